"""The official sample lists (shipped in `data/testsets/`) and how the released feature test set
names its files.

The released set holds one `<name>.npy` per sample under `<model>/<task>/feature_test/`; the
reference named each file after its source item, and fcbench uses the same names as sample ids:

| task | list | released file name = fcbench sample id |
|---|---|---|
| dinov2/cls | imagenet_selected_label100.txt | ImageNet val id, `ILSVRC2012_val_00000293` |
| dinov2/seg | val_20.txt | VOC2012 id, `2007_000323` |
| dinov2/dpt | nyu_test.txt | `<scene>_<rgb file stem>` of the rgb path, `bathroom_rgb_00045` |
| llama3/csr | sampled_longest100.jsonl | ARC question id, `Mercury_7222460` (an `arc_` prefix, as the reference's training features carry, is accepted) |
| sd3/tti | captions_val2017_select100.txt | COCO file stem, `COCO_val2017_000000397133` |

Pure: reads packaged text files only.
"""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import PurePosixPath
from typing import Optional

ARC_SHAPES = "arc_challenge_test_longest100_shape.txt"
# Prefixes the reference put before some file names; stripped to get the sample id.
RELEASED_PREFIXES = {("llama3", "csr"): ("arc_",)}


def _text(name: str) -> str:
    return resources.files("fcbench.codecs").joinpath("data", "testsets", name).read_text(encoding="utf-8")


def _lines(name: str) -> list[str]:
    return [line.strip() for line in _text(name).splitlines() if line.strip()]


def ids_in_list(name: str) -> list[str]:
    """Sample ids of an official list file, in list order."""
    if name.endswith(".jsonl"):
        return [str(json.loads(line)["id"]) for line in _lines(name)]
    first = [line.split()[0] for line in _lines(name)]
    if name.startswith("nyu"):
        return [f"{PurePosixPath(p).parent.name}_{PurePosixPath(p).stem}".lstrip("_") for p in first]
    if name.startswith("captions"):
        return [PurePosixPath(p).stem for p in first]
    return first


@lru_cache(maxsize=None)
def official_ids(model: str, task: str) -> tuple[str, ...]:
    """The official sample ids of a (model, task), in list order."""
    from fcbench.codecs.conditions import load_conditions

    return tuple(ids_in_list(load_conditions().get(model, task).sample_list))


def sample_id_of(model: str, task: str, stem: str) -> str:
    """The sample id of a released file stem (drops a known prefix when the rest is official)."""
    ids = official_ids(model, task)
    if stem in ids:
        return stem
    for prefix in RELEASED_PREFIXES.get((model, task), ()):
        if stem.startswith(prefix) and stem[len(prefix):] in ids:
            return stem[len(prefix):]
    return stem


@lru_cache(maxsize=1)
def arc_lengths() -> dict[str, int]:
    """Prompt length L of every official csr sample (its feature is 1x1xLx4096)."""
    out = {}
    for line in _lines(ARC_SHAPES):
        parts = line.split()
        if len(parts) == 5 and parts[0].endswith(".npy"):
            out[parts[0][:-4]] = int(parts[3])
    return out


def expected_shape(model: str, task: str, sample_id: str, pattern: tuple[int, ...]) -> tuple[Optional[int], ...]:
    """The shape a sample must have: the task's pattern (None = any size), with csr's L filled
    in from the official shape list."""
    shape: list[Optional[int]] = [None if s == -1 else s for s in pattern]
    if (model, task) == ("llama3", "csr") and sample_id in arc_lengths():
        shape[2] = arc_lengths()[sample_id]
    return tuple(shape)
