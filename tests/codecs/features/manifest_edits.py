"""Helpers that damage feature sets the way careless tools and hostile manifests do."""
from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any, Callable

import numpy as np

from fcbench.codecs import FeatureSet


def make_set(root: Path, n: int = 2) -> FeatureSet:
    with FeatureSet.create(root, "dinov2", "cls", "block 40") as fs:  # a finished set: all in manifest.json
        for i in range(n):
            fs.write(f"s{i}", np.full((1, 1, 2, 2), i, np.float32))
    return fs


def edit_manifest(root: Path, change: Callable[[Any], Any]) -> None:
    body = json.loads((root / "manifest.json").read_text())
    body = change(body)
    (root / "manifest.json").write_text(json.dumps(body))


def replace_sample(root: Path, sample_id: str, data: bytes) -> None:
    """Write new bytes for a sample and record their sha256, as a careless tool would."""
    (root / f"{sample_id}.npy").write_bytes(data)

    def change(body):
        for entry in body["samples"]:
            if entry["id"] == sample_id:
                entry["sha256"] = hashlib.sha256(data).hexdigest()
        return body

    edit_manifest(root, change)


def poison_with_nan(root: Path, sample_id: str) -> None:
    """Replace one sample by a copy with a NaN, its sha256 updated (only a value check sees it)."""
    x = np.load(root / f"{sample_id}.npy")
    x.flat[0] = np.nan
    buf = io.BytesIO()
    np.save(buf, x, allow_pickle=False)
    replace_sample(root, sample_id, buf.getvalue())
