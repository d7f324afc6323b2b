"""Llama-3-8B-Instruct on ARC-Challenge (csr), split after the last decoder layer.

Feature (docs/test-conditions.md §1): the output hidden state of `model.model.layers[31]` (before
the final RMSNorm) over every prompt token, stored float32 (bfloat16 origin) as (1, 1, L, 4096).
Head (§2): re-inject the feature with a forward hook on that same stock layer (cast to the
model dtype, bf16 as the reference), finish the forward pass, greedy-generate one token;
accuracy = stripped text == answer letter. A second metric scores the four answer letters by
their log-likelihood as the continuation of the prompt (lm-eval style).
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional, Union

import numpy as np
import torch
from tqdm import tqdm

from fcbench.codecs.features.featureset import FeatureSet, FeatureSetError
from fcbench.machines import model_setup
from fcbench.machines.base import Evaluation, Machine, feature_mse, register_machine
from fcbench.machines.metrics import accuracy
from fcbench.machines.text import LETTERS, ArcQuestion, PathLike, SampleList, evaluation_ids, load_prompts, select

SPLIT_POINT = "model.layers[{layer}].output"
PROMPT_FORMAT = "fcm-lm-arc-chat/1"


@contextmanager
def layer_hook(layer: torch.nn.Module, inject: Optional[torch.Tensor], captured: list[torch.Tensor]) -> Iterator[None]:
    """Capture a decoder layer's output hidden state on the prompt (prefill) pass and, when
    `inject` is given, replace it by `inject` cast to the layer's dtype. Later (one-token
    decoding) passes are left alone: their length differs from the prompt's."""

    def hook(module: torch.nn.Module, args: Any, output: Any) -> Any:
        hidden = output[0] if isinstance(output, tuple) else output
        if captured:  # the prompt pass has been handled
            return None
        if inject is not None:
            if tuple(inject.shape) != tuple(hidden.shape):
                raise ValueError(f"injected feature has shape {tuple(inject.shape)}, the layer outputs {tuple(hidden.shape)}")
            hidden = inject.to(device=hidden.device, dtype=hidden.dtype)
        captured.append(hidden.detach())
        if inject is None:
            return None
        return (hidden, *output[1:]) if isinstance(output, tuple) else hidden

    handle = layer.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


class Llama3CSR(Machine):
    model = "llama3"
    task = "csr"

    def __init__(
        self,
        weights: Union[PathLike, None] = None,
        device: str = "auto",
        dtype: str = "bfloat16",
        layer: Optional[int] = None,
        sample_list: SampleList = None,
        limit: Optional[int] = None,
        source: str = "test",
        batch_size: int = 1,
        progress: Optional[bool] = None,
        attn_implementation: Optional[str] = None,
        **unknown: Any,
    ):
        if unknown:
            raise TypeError(f"llama3/csr: unknown options {sorted(unknown)}")
        if batch_size != 1:
            raise ValueError(f"llama3/csr runs prompts one at a time as the reference (padding would change the features); batch_size={batch_size}")
        self.source = source
        self.progress = bool(progress)
        self.weights = model_setup.local_checkpoint(weights, "Llama-3 (transformers)")
        self.device = model_setup.resolve_device(device)
        self.dtype = model_setup.resolve_dtype(dtype)
        self.sample_list = sample_list
        self.limit = limit
        self._layer = layer
        self._attn = attn_implementation
        self._model: Any = None
        self._tokenizer: Any = None
        self._digest: Optional[str] = None

    # ---- model -------------------------------------------------------------------------
    def _load(self) -> None:
        if self._model is not None:
            return
        from transformers import AutoTokenizer, LlamaForCausalLM

        self._tokenizer = AutoTokenizer.from_pretrained(self.weights)
        kwargs: dict[str, Any] = {"dtype": self.dtype}
        if self._attn:
            kwargs["attn_implementation"] = self._attn
        self._model = LlamaForCausalLM.from_pretrained(self.weights, **kwargs).to(self.device).eval()
        n_layers = self._model.config.num_hidden_layers
        if self._layer is None:
            self._layer = n_layers - 1  # layer 32 of 32 (index 31) on the real model
        if not -n_layers <= self._layer < n_layers:
            raise ValueError(f"layer {self._layer} out of range for a {n_layers}-layer model")
        self._layer %= n_layers

    @property
    def layer(self) -> int:
        self._load()
        assert self._layer is not None  # _load resolved it
        return int(self._layer)

    @property
    def checkpoint_sha256(self) -> str:
        if self._digest is None:
            self._digest = model_setup.checkpoint_digest(self.weights)
        return self._digest

    def tokenize(self, prompt: str) -> torch.Tensor:
        """Prompt ids (1, L) with the tokenizer's own <|begin_of_text|>."""
        self._load()
        return self._tokenizer(prompt, return_tensors="pt")["input_ids"].to(self.device)

    @torch.no_grad()
    def run(self, input_ids: torch.Tensor, inject: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, int, torch.Tensor]:
        """One greedy new token. Returns (layer output (1, L, H) on the prompt, new token id,
        raw next-token logits (V,))."""
        self._load()
        captured: list[torch.Tensor] = []
        with layer_hook(self._model.model.layers[self._layer], inject, captured):
            out = self._model.generate(
                input_ids=input_ids,
                attention_mask=torch.ones_like(input_ids),
                max_new_tokens=1,
                do_sample=False,
                temperature=None,
                top_p=None,
                top_k=None,
                output_logits=True,
                return_dict_in_generate=True,
                pad_token_id=self._tokenizer.eos_token_id,
            )
        if not captured:
            raise RuntimeError(f"the hook on model.layers[{self._layer}] never fired")
        return captured[0], int(out.sequences[0, -1]), out.logits[0][0].float()

    def _letter_ids(self) -> list[int]:
        ids = []
        for letter in LETTERS:
            tokens = self._tokenizer.encode(" " + letter, add_special_tokens=False)
            if len(tokens) != 1:
                raise ValueError(f"tokenizer splits the answer {' ' + letter!r} into {len(tokens)} tokens; log-likelihood scoring needs one")
            ids.append(tokens[0])
        return ids

    # ---- extraction ----------------------------------------------------------------------
    def extract(self, data: Optional[PathLike], out: PathLike, sample_list: SampleList = None,
                limit: Optional[int] = None, source: Optional[str] = None, resume: bool = True, **options: Any) -> FeatureSet:
        """Features of every selected prompt (ARC records or raw {"id","text"} training inputs;
        source "folder" reads every jsonl under `data`)."""
        if options:
            raise TypeError(f"llama3/csr extract: unknown options {sorted(options)}")
        items = load_prompts(data, sample_list or self.sample_list, limit or self.limit, source or self.source)
        self._load()
        fs = FeatureSet.create(
            out, self.model, self.task, SPLIT_POINT.format(layer=self._layer), resume=resume,
            checkpoint_sha256=self.checkpoint_sha256, dtype=model_setup.dtype_name(self.dtype),
            prompt_format=PROMPT_FORMAT, layer=self._layer,
        )
        with fs:
            for item in tqdm(items, desc="llama3 extract", disable=not self.progress):
                if item.id in fs:
                    continue
                ids = self.tokenize(item.prompt)
                hidden, token, _ = self.run(ids)
                feature = hidden.float().cpu().numpy()[None]  # (1, 1, L, H)
                fs.write(item.id, feature.astype(np.float32), origin_dtype=model_setup.dtype_name(self.dtype),
                         tokens=int(ids.shape[1]), generated=self._tokenizer.decode([token], skip_special_tokens=True))
        return fs

    # ---- evaluation ----------------------------------------------------------------------
    def evaluate(self, features: Union[PathLike, FeatureSet], data: Optional[PathLike] = None,
                 reference: Union[PathLike, FeatureSet, None] = None, sample_list: SampleList = None,
                 limit: Optional[int] = None, **options: Any) -> Evaluation:
        """ARC accuracy (greedy letter) and log-likelihood accuracy of the features' samples
        (or of the `sample_list` ones, which must all be in the feature set)."""
        if options:
            raise TypeError(f"llama3/csr evaluate: unknown options {sorted(options)}")
        fs = features if isinstance(features, FeatureSet) else FeatureSet.open(features)
        if (fs.meta.get("model"), fs.meta.get("task")) != (self.model, self.task):
            raise FeatureSetError(f"{fs.root} holds {fs.meta.get('model')}/{fs.meta.get('task')} features, not llama3/csr")
        wanted = evaluation_ids(fs, sample_list, limit)
        questions = select(load_prompts(data), wanted, None, Path(str(data or "official ARC list")))
        self._load()
        letter_ids = self._letter_ids()
        rows = []
        for q in tqdm(questions, desc="llama3 evaluate", disable=not self.progress):
            if not isinstance(q, ArcQuestion):
                raise ValueError(f"sample {q.id} is a raw text input with no answer key; csr evaluation needs ARC records")
            rows.append(self._score(q, fs, letter_ids))
        metrics = [accuracy(r["correct"] for r in rows), accuracy((r["loglik_correct"] for r in rows), name="loglik_accuracy")]
        mse = None
        if reference is not None:
            ref = reference if isinstance(reference, FeatureSet) else FeatureSet.open(reference)
            mse = feature_mse(fs, ref)
        return Evaluation(metrics, rows, mse)

    def _score(self, q: ArcQuestion, fs: FeatureSet, letter_ids: list[int]) -> dict[str, Any]:
        ids = self.tokenize(q.prompt)
        feature = fs.read(q.id)
        hidden = self._model.config.hidden_size
        want = (1, 1, int(ids.shape[1]), hidden)
        if feature.shape != want:
            raise FeatureSetError(f"sample {q.id}: feature shape {feature.shape} != {want} (1, 1, prompt tokens, hidden size)")
        if not np.all(np.isfinite(feature)):
            raise FeatureSetError(f"sample {q.id}: feature contains NaN or Inf")
        inject = torch.from_numpy(np.ascontiguousarray(feature[0]))
        _, token, logits = self.run(ids, inject=inject)
        text = self._tokenizer.decode([token], skip_special_tokens=True).strip()
        logprobs = torch.log_softmax(logits, dim=-1)[letter_ids].tolist()
        best = LETTERS[int(np.argmax(logprobs))]
        return {
            "id": q.id, "answer": q.answer, "generated": text, "correct": text == q.answer,
            "loglik": dict(zip(LETTERS, logprobs)), "loglik_choice": best, "loglik_correct": best == q.answer,
        }


@register_machine("llama3", "csr")
def build(weights: Union[PathLike, None] = None, **options: Any) -> Llama3CSR:
    return Llama3CSR(weights=weights, **options)


# ---- tiny assets for tests and local pipeline runs ------------------------------------------------
def make_tiny_assets(root: PathLike, n_questions: int = 4, seed: int = 0, tokenizer_dir: Optional[PathLike] = None) -> dict[str, Any]:
    """A random-weight 2-layer Llama (stock architecture, tiny sizes) with a BPE tokenizer
    carrying Llama-3's special tokens, plus `n_questions` synthetic ARC questions.
    `tokenizer_dir` holds `llama/tokenizer.json` (the test fixture); None trains one."""
    from tokenizers import Tokenizer
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from fcbench.codecs.common import atomic
    from fcbench.machines.text import train_llama_tokenizer

    root = Path(root)
    weights = root / "llama3-tiny"
    if tokenizer_dir is not None:
        backend = Tokenizer.from_file(str(Path(tokenizer_dir) / "llama" / "tokenizer.json"))
    else:
        backend = train_llama_tokenizer()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<|begin_of_text|>", eos_token="<|eot_id|>")
    tokenizer.save_pretrained(weights)
    config = LlamaConfig(
        vocab_size=backend.get_vocab_size(), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).eval()
    model.generation_config = GenerationConfig(bos_token_id=config.bos_token_id, eos_token_id=config.eos_token_id, do_sample=False)
    letter_ids = [tokenizer.encode(" " + letter, add_special_tokens=False)[0] for letter in LETTERS]
    with torch.no_grad():  # louder letters, so a random model often answers with one
        model.lm_head.weight[letter_ids] *= 4.0
    model.save_pretrained(weights)

    # Like the reference's 100 questions (picked among those the model gets right), keep
    # synthetic questions whose greedy answer is a letter and make that letter the key, so the
    # uncompressed accuracy is 100 % by construction and coding errors show.
    rng = np.random.default_rng(seed)
    words = ["energy", "plant", "rock", "water", "moon", "cell", "heat", "light", "animal", "soil", "wind", "gas"]
    lines: list[str] = []
    for _ in range(400):
        stem = "Which " + " ".join(rng.choice(words, size=int(rng.integers(3, 12)))) + "?"
        a, b, c, d = texts = tuple(" ".join(rng.choice(words, size=int(rng.integers(1, 5)))) for _ in LETTERS)
        ids = tokenizer(ArcQuestion("", stem, (a, b, c, d), "A").prompt, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            best = int(model(input_ids=ids).logits[0, -1].argmax())
        if best in letter_ids:
            record = {"id": f"TINY_{len(lines):03d}", "answerKey": LETTERS[letter_ids.index(best)],
                      "question": {"stem": stem, "choices": [{"text": t, "label": letter} for t, letter in zip(texts, LETTERS)]}}
            lines.append(json.dumps(record))
            if len(lines) == n_questions:
                break
    else:
        raise RuntimeError(f"could not make {n_questions} tiny questions with seed {seed}")
    data = root / "arc"
    atomic.write_bytes(data / "questions.jsonl", ("\n".join(lines) + "\n").encode())
    sample_list = root / "arc_sample_list.txt"
    atomic.write_bytes(sample_list, ("\n".join(f"TINY_{i:03d}" for i in range(n_questions)) + "\n").encode())
    return {"weights": weights, "data": data, "sample_list": sample_list, "options": {"device": "cpu", "dtype": "float32"}}
