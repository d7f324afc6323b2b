"""Feature sets (docs/architecture.md): a folder of `<sample_id>.npy` tensors plus `manifest.json`.

The manifest names the model, task and split point and, per sample, its shape, stored dtype,
origin dtype (e.g. bfloat16 stored as float32) and sha256. Samples and the manifest are
written atomically, the manifest after every sample, so an interrupted extraction resumes.
"""
from __future__ import annotations

import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional, Union

import numpy as np

from fcbench.codecs import atomic

MANIFEST = "manifest.json"
FORMAT = "fcbench-featureset/1"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]+$")


class FeatureSetError(ValueError):
    """A feature set that is missing, incomplete or does not match its manifest."""


@dataclass
class SampleInfo:
    id: str
    shape: list[int]
    dtype: str
    origin_dtype: str
    sha256: str
    extra: dict = field(default_factory=dict)


def check_sample_id(sample_id: str) -> str:
    if not _SAFE_ID.match(sample_id) or sample_id in (".", ".."):
        raise FeatureSetError(f"sample id {sample_id!r} is not a safe file name ([A-Za-z0-9._-]+)")
    return sample_id


class FeatureSet:
    """Read/write access to one feature-set folder."""

    def __init__(self, root: Union[str, Path], meta: dict[str, Any], samples: dict[str, SampleInfo]):
        self.root = Path(root)
        self.meta = meta
        self._samples = samples

    # ---- creation ------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        root: Union[str, Path],
        model: str,
        task: str,
        split_point: str,
        resume: bool = True,
        **meta: Any,
    ) -> "FeatureSet":
        """Start (or, with resume, continue) writing a feature set in `root`."""
        root = Path(root)
        if (root / MANIFEST).exists() and resume:
            fs = cls.open(root)
            want = {"model": model, "task": task, "split_point": split_point}
            have = {k: fs.meta.get(k) for k in want}
            if have != want:
                raise FeatureSetError(f"{root} holds a feature set for {have}, not {want}")
            fs.meta.update(meta)
            return fs
        root.mkdir(parents=True, exist_ok=True)
        fs = cls(root, {"format": FORMAT, "model": model, "task": task, "split_point": split_point, **meta}, {})
        fs._write_manifest()
        return fs

    def write(self, sample_id: str, array: np.ndarray, origin_dtype: Optional[str] = None, **extra: Any) -> SampleInfo:
        """Write one sample atomically and record it in the manifest."""
        check_sample_id(sample_id)
        array = np.asarray(array)
        if not np.issubdtype(array.dtype, np.floating):
            raise FeatureSetError(f"sample {sample_id}: features must be floating point, got {array.dtype}")
        if not np.all(np.isfinite(array)):
            raise FeatureSetError(f"sample {sample_id}: feature contains NaN or Inf")
        data = atomic.write_npy(self.root / f"{sample_id}.npy", array)
        info = SampleInfo(
            id=sample_id,
            shape=[int(s) for s in array.shape],
            dtype=array.dtype.name,
            origin_dtype=origin_dtype or array.dtype.name,
            sha256=hashlib.sha256(data).hexdigest(),
            extra=extra,
        )
        self._samples[sample_id] = info
        self._write_manifest()
        return info

    def adopt(self, sample_id: str, shape: list[int], dtype: str, origin_dtype: str, sha256: str, **extra: Any) -> SampleInfo:
        """Record a `<sample_id>.npy` already written into the folder (atomically, by a caller
        that streamed and checked it) in the manifest."""
        check_sample_id(sample_id)
        if not (self.root / f"{sample_id}.npy").is_file():
            raise FeatureSetError(f"sample {sample_id!r}: {self.root / f'{sample_id}.npy'} does not exist")
        info = SampleInfo(id=sample_id, shape=[int(s) for s in shape], dtype=dtype, origin_dtype=origin_dtype,
                          sha256=sha256, extra=extra)
        self._samples[sample_id] = info
        self._write_manifest()
        return info

    def _write_manifest(self) -> None:
        body = dict(self.meta)
        body["samples"] = [vars(s) for s in self._samples.values()]
        atomic.write_json(self.root / MANIFEST, body)

    # ---- reading -------------------------------------------------------------------------
    @classmethod
    def open(cls, root: Union[str, Path]) -> "FeatureSet":
        root = Path(root)
        path = root / MANIFEST
        if not path.is_file():
            raise FeatureSetError(f"{root} is not a feature set: {MANIFEST} is missing")
        try:
            body = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise FeatureSetError(f"{path} is not valid JSON: {exc}") from exc
        samples = {s["id"]: SampleInfo(**s) for s in body.pop("samples", [])}
        return cls(root, body, samples)

    @property
    def ids(self) -> list[str]:
        return list(self._samples)

    def info(self, sample_id: str) -> SampleInfo:
        if sample_id not in self._samples:
            raise FeatureSetError(f"sample {sample_id!r} is not in feature set {self.root}")
        return self._samples[sample_id]

    def __contains__(self, sample_id: str) -> bool:
        return sample_id in self._samples and (self.root / f"{sample_id}.npy").is_file()

    def __len__(self) -> int:
        return len(self._samples)

    def read(self, sample_id: str, verify: bool = True) -> np.ndarray:
        info = self.info(sample_id)
        path = self.root / f"{sample_id}.npy"
        if not path.is_file():
            raise FeatureSetError(f"sample {sample_id!r}: {path} is missing")
        data = path.read_bytes()
        if verify and hashlib.sha256(data).hexdigest() != info.sha256:
            raise FeatureSetError(f"sample {sample_id!r}: {path} does not match its sha256 in the manifest")
        array = np.load(io.BytesIO(data), allow_pickle=False)
        if list(array.shape) != info.shape:
            raise FeatureSetError(f"sample {sample_id!r}: shape {array.shape} != manifest {info.shape}")
        return array

    def __iter__(self) -> Iterator[tuple[str, np.ndarray]]:
        for sample_id in self._samples:
            yield sample_id, self.read(sample_id)

    def verify(self) -> list[str]:
        """Problems found (missing files, hash mismatches); empty when the set is intact."""
        problems = []
        for sample_id in self._samples:
            try:
                self.read(sample_id, verify=True)
            except FeatureSetError as exc:
                problems.append(str(exc))
        return problems
