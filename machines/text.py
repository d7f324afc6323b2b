"""Text inputs of the language tasks: ARC questions (csr), COCO captions (tti) and generic
training inputs (jsonl records, caption files), plus the tiny BPE tokenizers used by tests.

Official sample lists ship in the package (`fcbench.codecs` data/testsets, read through
importlib.resources). Every loader names the file and line (or sample id) it cannot use.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence, Union

from fcbench.codecs.common.names import check_name
from fcbench.codecs.common.types import PathLike

SampleList = Union[PathLike, Sequence[str], None]

ARC_OFFICIAL = "sampled_longest100.jsonl"
ARC_SHAPES = "arc_challenge_test_longest100_shape.txt"
COCO_OFFICIAL = "captions_val2017_select100.txt"
LETTERS = ("A", "B", "C", "D")

# docs/test-conditions.md §1: the reference prompt, verbatim; the tokenizer adds <|begin_of_text|> itself.
ARC_TEMPLATE = (
    "<|start_header_id|>user<|end_header_id|>\n\n"
    "Given the following question and four candidate answers (A, B, C and D), choose the best answer.\n"
    "Question: {stem}\nA: {t1}\nB: {t2}\nC: {t3}\nD: {t4}\n"
    'Your response should end with "The best answer is [the_answer_letter]" where the '
    "[the_answer_letter] is one of A, B, C or D.<|eot_id|>"
    "<|start_header_id|>assistant<|end_header_id|>\n\nThe best answer is"
)


class DataError(ValueError):
    """An input sample or list that is missing, unreadable or malformed."""


# ---- official lists ----------------------------------------------------------------------
def official_path(name: str) -> Path:
    """Path of a packaged official list (codecs/data/testsets/<name>)."""
    ref = resources.files("fcbench.codecs").joinpath("data", "testsets", name)
    path = Path(str(ref))
    if not path.is_file():
        raise DataError(f"official list {name} is not in the installed fcbench.codecs package ({path})")
    return path


def arc_token_counts() -> dict[str, int]:
    """Per-question prompt length L from the official shape list (`<id>.npy 1 1 L 4096`)."""
    counts = {}
    for line in official_path(ARC_SHAPES).read_text().splitlines():
        parts = line.split()
        if len(parts) == 5 and parts[0].endswith(".npy"):
            counts[parts[0][: -len(".npy")]] = int(parts[3])
    return counts


# ---- generic readers ---------------------------------------------------------------------
def read_jsonl(path: PathLike) -> list[dict[str, Any]]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path} is unreadable: {exc}") from exc
    records = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{n}: not valid JSON: {exc}") from exc
        if not isinstance(record, dict):
            raise DataError(f"{path}:{n}: expected a JSON object, got {type(record).__name__}")
        records.append(record)
    return records


def _resolve(data: Optional[PathLike], official: str, suffixes: tuple[str, ...]) -> Path:
    """The file to read: the packaged official list when `data` is None, `data` itself when it
    is a file, else `<data>/<official>` or the one file with one of `suffixes` in the folder."""
    if data is None:
        return official_path(official)
    path = Path(data)
    if path.is_file():
        return path
    if not path.is_dir():
        raise DataError(f"data path {path} does not exist")
    if (path / official).is_file():
        return path / official
    found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in suffixes)
    if len(found) != 1:
        kinds = "/".join(f"*{s}" for s in suffixes)
        raise DataError(f"{path} holds {len(found)} {kinds} files; expected {official} or exactly one")
    return found[0]


def _files(data: Optional[PathLike], official: str, suffixes: tuple[str, ...], source: str) -> list[Path]:
    """source "test": the one list file (`_resolve`); "folder": every file with one of
    `suffixes` under the folder `data`, sorted (training inputs split into several files)."""
    if source == "test":
        return [_resolve(data, official, suffixes)]
    if source != "folder":
        raise DataError(f"source must be 'test' or 'folder', got {source!r}")
    if data is None or not Path(data).is_dir():
        raise DataError(f"source 'folder' needs a data folder, got {data}")
    found = sorted(p for p in Path(data).rglob("*") if p.is_file() and p.suffix in suffixes)
    if not found:
        raise DataError(f"{data} holds no {'/'.join(suffixes)} files")
    return found


def _read_ids(sample_list: PathLike) -> list[str]:
    """Ids from a list file: jsonl records with "id", or one id per line (first field; a
    trailing .npy/.jpg is dropped so the official shape and caption lists work too)."""
    path = Path(sample_list)
    if path.suffix == ".jsonl":
        ids = []
        for n, rec in enumerate(read_jsonl(path), 1):
            if "id" not in rec:
                raise DataError(f"{path}: record {n} has no 'id'")
            ids.append(str(rec["id"]))
        return ids
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DataError(f"sample list {path} is unreadable: {exc}") from exc
    ids = []
    for line in lines:
        if not line.strip() or (":" in line and "." not in line.split(":", 1)[0]):
            continue  # blank lines and the shape list's "key: value" header lines
        ids.append(re.sub(r"\.(npy|jpg|png)$", "", line.split()[0]))
    return ids


def select(items: Sequence[Any], sample_list: SampleList, limit: Optional[int], source: Path) -> list[Any]:
    """Items in sample-list order (all in file order when None), the first `limit` of them."""
    by_id = {item.id: item for item in items}
    if len(by_id) != len(items):
        dup = sorted(i for i, n in Counter(item.id for item in items).items() if n > 1)
        raise DataError(f"{source} has duplicate sample ids: {dup[:5]}")
    if sample_list is None:
        chosen = list(items)
    else:
        ids = _read_ids(sample_list) if isinstance(sample_list, (str, Path)) else [str(s) for s in sample_list]
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise DataError(f"{len(missing)} listed samples are not in {source}, e.g. {missing[:5]}")
        chosen = [by_id[i] for i in ids]
    if limit is not None:
        if limit < 1:
            raise DataError(f"limit must be >= 1, got {limit}")
        chosen = chosen[:limit]
    if not chosen:
        raise DataError(f"no samples selected from {source}")
    for item in chosen:  # ids become feature-set file names (fcbench.codecs.common.names)
        check_name(item.id, f"{source}: sample id", DataError)
    return chosen


def evaluation_ids(features: Any, sample_list: SampleList, limit: Optional[int]) -> list[str]:
    """Samples to evaluate: the feature set's, or the `sample_list` ones (all must be in it)."""
    ids = list(features.ids)
    if not ids:
        raise DataError(f"feature set {features.root} is empty")
    if sample_list is not None:
        wanted = _read_ids(sample_list) if isinstance(sample_list, (str, Path)) else [str(s) for s in sample_list]
        missing = [i for i in wanted if i not in features]
        if missing:
            raise DataError(f"{len(missing)} listed samples are not in feature set {features.root}, e.g. {missing[:5]}")
        ids = wanted
    return ids[:limit] if limit else ids


# ---- ARC ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ArcQuestion:
    id: str
    stem: str
    choices: tuple[str, str, str, str]  # texts for A, B, C, D
    answer: str  # one of A-D

    @property
    def prompt(self) -> str:
        return arc_prompt(self)


@dataclass(frozen=True)
class TextItem:
    """A raw text input (a training prompt or caption) used verbatim."""

    id: str
    text: str

    @property
    def prompt(self) -> str:
        return self.text


def arc_prompt(q: ArcQuestion) -> str:
    t1, t2, t3, t4 = q.choices
    return ARC_TEMPLATE.format(stem=q.stem, t1=t1, t2=t2, t3=t3, t4=t4)


def parse_arc(record: dict[str, Any], where: str) -> ArcQuestion:
    """One ARC jsonl record: {"id", "question": {"stem", "choices": [{"text","label"}]}, "answerKey"}.
    Labels A-D or 1-4 (ARC uses both) map to A-D; the template needs exactly four choices."""
    try:
        qid = str(record["id"])
        stem = record["question"]["stem"]
        choices = record["question"]["choices"]
        key = str(record["answerKey"])
    except (KeyError, TypeError) as exc:
        raise DataError(f"{where}: not an ARC record (missing {exc})") from None
    if len(choices) != 4:
        raise DataError(f"{where} ({qid}): the prompt needs exactly 4 choices, got {len(choices)}")
    labels = [str(c.get("label")) for c in choices]
    if labels == ["1", "2", "3", "4"]:
        key = {"1": "A", "2": "B", "3": "C", "4": "D"}.get(key, key)
    elif labels != list(LETTERS):
        raise DataError(f"{where} ({qid}): choice labels {labels} are neither A-D nor 1-4")
    if key not in LETTERS:
        raise DataError(f"{where} ({qid}): answerKey {record['answerKey']!r} is not a choice label")
    return ArcQuestion(qid, stem, tuple(c["text"] for c in choices), key)


def load_arc(data: Optional[PathLike] = None, sample_list: SampleList = None, limit: Optional[int] = None) -> list[ArcQuestion]:
    """ARC questions from `data` (jsonl file or folder; None = the official 100)."""
    path = _resolve(data, ARC_OFFICIAL, (".jsonl",))
    items = [parse_arc(rec, f"{path}:{n}") for n, rec in enumerate(read_jsonl(path), 1)]
    return select(items, sample_list, limit, path)


def load_prompts(data: Optional[PathLike] = None, sample_list: SampleList = None, limit: Optional[int] = None,
                 source: str = "test") -> list[Union[ArcQuestion, TextItem]]:
    """Language-model inputs: ARC records become the reference prompt; generic records
    {"id", "text"|"prompt"} (training inputs) are used verbatim."""
    items: list[Union[ArcQuestion, TextItem]] = []
    paths = _files(data, ARC_OFFICIAL, (".jsonl",), source)
    for path in paths:
        for n, rec in enumerate(read_jsonl(path), 1):
            if "question" in rec:
                items.append(parse_arc(rec, f"{path}:{n}"))
            else:
                items.append(_text_record(rec, f"{path}:{n}", ("text", "prompt")))
    return select(items, sample_list, limit, paths[0] if len(paths) == 1 else Path(str(data)))


def _text_record(rec: dict[str, Any], where: str, fields: Iterable[str]) -> TextItem:
    for name in fields:
        if isinstance(rec.get(name), str):
            if "id" not in rec:
                raise DataError(f"{where}: record has no 'id'")
            return TextItem(str(rec["id"]), rec[name])
    raise DataError(f"{where}: record has none of the text fields {list(fields)}")


# ---- captions ----------------------------------------------------------------------------
def parse_caption_line(line: str, where: str) -> TextItem:
    """`<image file> <caption>` (the official COCO list); the id is the file's stem."""
    parts = line.strip().split(maxsplit=1)
    if len(parts) != 2 or not parts[1].strip():
        raise DataError(f"{where}: expected '<image file> <caption>', got {line.strip()!r}")
    return TextItem(re.sub(r"\.(jpg|jpeg|png)$", "", parts[0], flags=re.I), parts[1].strip())


def load_captions(data: Optional[PathLike] = None, sample_list: SampleList = None, limit: Optional[int] = None, source: str = "test") -> list[TextItem]:
    """Captions from a caption file (`<file> <caption>` lines) or a jsonl of {"id", "caption"|"text"}
    (a file or a folder; None = the official 100 COCO val2017 captions)."""
    items: list[TextItem] = []
    paths = _files(data, COCO_OFFICIAL, (".txt", ".jsonl"), source)
    for path in paths:
        if path.suffix == ".jsonl":
            items += [_text_record(r, f"{path}:{n}", ("caption", "text")) for n, r in enumerate(read_jsonl(path), 1)]
            continue
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"caption file {path} is unreadable: {exc}") from exc
        items += [parse_caption_line(line, f"{path}:{n}") for n, line in enumerate(lines, 1) if line.strip()]
    return select(items, sample_list, limit, paths[0] if len(paths) == 1 else Path(str(data)))


# ---- tiny tokenizers for tests (trained in-process) -----------------------------------------
LLAMA_SPECIAL = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
CLIP_SPECIAL = ["<|startoftext|>", "<|endoftext|>"]


def _corpus() -> list[str]:
    """Training text: the official ARC prompts and COCO captions (deterministic)."""
    lines = [q.prompt for q in load_arc()]
    lines += [c.text for c in load_captions()]
    return lines


def train_llama_tokenizer(vocab_size: int = 600) -> "Any":
    """A byte-level BPE with Llama-3's special tokens; prepends <|begin_of_text|> like Llama-3."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=LLAMA_SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer)
    bos = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.TemplateProcessing(single="<|begin_of_text|> $A", special_tokens=[("<|begin_of_text|>", bos)])
    return tok


def train_clip_bpe(vocab_size: int = 600) -> tuple[dict[str, int], list[str]]:
    """(vocab, merges) for transformers' CLIPTokenizer: lower-cased byte-level BPE with the
    `</w>` end-of-word suffix. Every byte also gets its `</w>` form so no input maps to the
    unknown token (which is <|endoftext|>, CLIP's pooling position). Ids are renumbered
    (specials, sorted base symbols, merges in rank order) because the trainer numbers its
    alphabet in hash order."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(end_of_word_suffix="</w>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace(), pre_tokenizers.ByteLevel(add_prefix_space=False)])
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=CLIP_SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        end_of_word_suffix="</w>",
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer)
    body = json.loads(tok.to_str())["model"]
    merges = [m if isinstance(m, str) else " ".join(m) for m in body["merges"]]
    merged = ["".join(m.split(" ")) for m in merges]
    alphabet = {ch + sfx for ch in pre_tokenizers.ByteLevel.alphabet() for sfx in ("", "</w>")}
    base = sorted((set(body["vocab"]) | alphabet) - set(merged) - set(CLIP_SPECIAL))
    vocab: dict[str, int] = {}
    for token in [*CLIP_SPECIAL, *base, *merged]:
        vocab.setdefault(token, len(vocab))
    return vocab, merges


def save_tiny_tokenizers(root: PathLike) -> Path:
    """Write `llama/tokenizer.json` and `clip/vocab.json` + `clip/merges.txt` under `root`."""
    from fcbench.codecs.common import atomic

    root = Path(root)
    atomic.write_bytes(root / "llama" / "tokenizer.json", (train_llama_tokenizer().to_str(pretty=False) + "\n").encode())
    vocab, merges = train_clip_bpe()
    atomic.write_bytes(root / "clip" / "vocab.json", (json.dumps(vocab, sort_keys=True) + "\n").encode())
    atomic.write_bytes(root / "clip" / "merges.txt", ("#version: 0.2\n" + "\n".join(merges) + "\n").encode())
    return root
