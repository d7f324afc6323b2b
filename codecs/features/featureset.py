"""Feature sets (docs/architecture.md): a folder of `<sample_id>.npy` tensors plus `manifest.json`.

The manifest names the model, task and split point and, per sample, its shape, stored dtype,
origin dtype (e.g. bfloat16 stored as float32) and sha256. Samples are written atomically; each
finished sample is appended to a journal beside the manifest (one line, O(1) per sample) and the
journal is folded into the manifest when the writer compacts the set (`compact()`, the end of a
`with` block, the start of a resumed write). A reader sees the manifest plus the journal, so an
extraction killed at any moment resumes with every finished sample; a line torn by the kill is
ignored (that sample is simply redone). Writers of one folder serialise on a lock file, so two
processes writing the same set lose nothing.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ContextManager, Iterator, Optional, Union

import numpy as np

from fcbench.codecs.common import atomic
from fcbench.codecs.common.hashing import sha256_file
from fcbench.codecs.common.names import check_name

MANIFEST = "manifest.json"
JOURNAL = ".manifest.journal"  # finished samples not yet in the manifest, one JSON line each
LOCK = ".manifest.lock"  # writers of one folder hold it while they append or compact
FORMAT = "fcbench-featureset/1"
_SHA256 = re.compile(r"[0-9a-f]{64}")


# What a sample may be stored as (bfloat16 features are stored as float32, origin_dtype says so).
STORED_DTYPES: tuple[str, ...] = ("float16", "float32", "float64")


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


def check_sample_id(sample_id: Any) -> str:
    """The sample id when it is a safe file name (fcbench.codecs.common.names), else FeatureSetError."""
    return check_name(sample_id, "sample id", FeatureSetError)


def parse_manifest(body: Any, where: str) -> tuple[dict[str, Any], dict[str, SampleInfo]]:
    """(meta, samples by id) of a manifest's parsed JSON; FeatureSetError naming `where` and the
    first problem. A manifest is untrusted input: every sample id must be a safe file name and
    unique, every entry must carry a shape, a floating dtype and a sha256."""
    if not isinstance(body, dict):
        raise FeatureSetError(f"{where}: a manifest is a JSON object, got a JSON {type(body).__name__}")
    if body.get("format", FORMAT) != FORMAT:
        raise FeatureSetError(f"{where}: format {body['format']!r} is not {FORMAT!r}")
    if not isinstance(body.get("samples"), list):
        raise FeatureSetError(f"{where}: no 'samples' list")
    meta = {k: v for k, v in body.items() if k != "samples"}
    samples: dict[str, SampleInfo] = {}
    for n, entry in enumerate(body["samples"]):
        info = _sample_info(entry, f"{where}: sample entry {n}")
        if info.id in samples:
            raise FeatureSetError(f"{where}: sample id {info.id!r} appears more than once")
        samples[info.id] = info
    return meta, samples


def _sample_info(entry: Any, where: str) -> SampleInfo:
    if not isinstance(entry, dict):
        raise FeatureSetError(f"{where} is not a JSON object")
    missing = [k for k in ("id", "shape", "dtype", "sha256") if k not in entry]
    if missing:
        raise FeatureSetError(f"{where} ({entry.get('id', '?')!r}) has no {', '.join(missing)}")
    sample_id = check_sample_id(entry["id"])
    where = f"{where} ({sample_id!r})"
    shape = entry["shape"]
    if not isinstance(shape, list) or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape):
        raise FeatureSetError(f"{where}: shape {shape!r} is not a list of sizes")
    dtype, origin = entry["dtype"], entry.get("origin_dtype", entry["dtype"])
    if dtype not in STORED_DTYPES or not isinstance(origin, str):
        raise FeatureSetError(f"{where}: dtype {dtype!r} is not one of {STORED_DTYPES}")
    if not isinstance(entry["sha256"], str) or not _SHA256.fullmatch(entry["sha256"]):
        raise FeatureSetError(f"{where}: sha256 {entry['sha256']!r} is not 64 lower-case hex digits")
    extra = entry.get("extra", {})
    if not isinstance(extra, dict):
        raise FeatureSetError(f"{where}: extra {extra!r} is not a JSON object")
    return SampleInfo(sample_id, list(shape), dtype, origin, entry["sha256"], extra)


class FeatureSet:
    """Read/write access to one feature-set folder."""

    def __init__(self, root: Union[str, Path], meta: dict[str, Any], samples: dict[str, SampleInfo]):
        self.root = Path(root)
        self.meta = meta
        self._samples = samples
        # sample -> (file identity, sha256) of the last read that checked its hash: a sweep reads a
        # sample once per rate point, and an unchanged file need not be hashed again
        self._verified: dict[str, tuple[tuple[int, int, int, int], str]] = {}

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
        """Start (or, with resume, continue) writing a feature set in `root`. Use it in a `with`
        block (or call `compact()` when done) so the journal is folded into the manifest."""
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        with _locked(root):
            if (root / MANIFEST).exists() and resume:
                fs = cls.open(root)
                want = {"model": model, "task": task, "split_point": split_point}
                have = {k: fs.meta.get(k) for k in want}
                if have != want:
                    raise FeatureSetError(f"{root} holds a feature set for {have}, not {want}")
                fs.meta.update(meta)
                fs._compact_locked()  # a torn journal line of a killed writer goes; appends start clean
                for stale in root.glob(".*.tmp"):  # a killed write's temp file, a sample's or the
                    stale.unlink(missing_ok=True)  # manifest's (no write is in progress: writers hold the lock)
            else:
                fs = cls(root, {"format": FORMAT, "model": model, "task": task, "split_point": split_point, **meta}, {})
                fs._compact_locked(merge=False)  # a new set: whatever was recorded here before goes
        return fs

    def write(self, sample_id: str, array: np.ndarray, origin_dtype: Optional[str] = None, **extra: Any) -> SampleInfo:
        """Write one sample atomically and record it (journal line)."""
        check_sample_id(sample_id)
        array = np.asarray(array)
        if array.dtype.name not in STORED_DTYPES:
            raise FeatureSetError(f"sample {sample_id}: features are stored as {', '.join(STORED_DTYPES)}, got {array.dtype}")
        if not np.all(np.isfinite(array)):
            raise FeatureSetError(f"sample {sample_id}: feature contains NaN or Inf")
        with _locked(self.root):  # file and journal line in the same order for every writer
            sha256 = atomic.write_npy(self.root / f"{sample_id}.npy", array)
            info = SampleInfo(id=sample_id, shape=[int(s) for s in array.shape], dtype=array.dtype.name,
                              origin_dtype=origin_dtype or array.dtype.name, sha256=sha256, extra=extra)
            self._record(info)
        return info

    def adopt(self, sample_id: str, shape: list[int], dtype: str, origin_dtype: str, sha256: str, **extra: Any) -> SampleInfo:
        """Record a `<sample_id>.npy` already written into the folder (atomically, by a caller
        that streamed and checked it)."""
        check_sample_id(sample_id)
        if not (self.root / f"{sample_id}.npy").is_file():
            raise FeatureSetError(f"sample {sample_id!r}: {self.root / f'{sample_id}.npy'} does not exist")
        info = SampleInfo(id=sample_id, shape=[int(s) for s in shape], dtype=dtype, origin_dtype=origin_dtype,
                          sha256=sha256, extra=extra)
        with _locked(self.root):
            self._record(info)
        return info

    def _record(self, info: SampleInfo) -> None:
        """Append one journal line (caller holds the lock). The file is opened per line: a
        compaction by another writer removes it, and a kept descriptor would write into the void."""
        line = (json.dumps(atomic.strict_json(vars(info)), sort_keys=True, allow_nan=False) + "\n").encode()
        fd = os.open(self.root / JOURNAL, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        self._samples[info.id] = info

    def compact(self) -> None:
        """Fold the journal into the manifest (every writer's samples, read back from disk)."""
        with _locked(self.root):
            self._compact_locked()

    def _compact_locked(self, merge: bool = True) -> None:
        if merge and (self.root / MANIFEST).is_file():
            on_disk = type(self).open(self.root)._samples
            self._samples = {**on_disk, **{k: v for k, v in self._samples.items() if k not in on_disk}}
        atomic.write_json(self.root / MANIFEST, self.manifest())
        (self.root / JOURNAL).unlink(missing_ok=True)

    def manifest(self) -> dict:
        """The manifest of the set as this object sees it (journal included)."""
        return {**self.meta, "samples": [vars(s) for s in self._samples.values()]}

    def __enter__(self) -> "FeatureSet":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.compact()

    @property
    def pending(self) -> bool:
        """Are samples recorded only in the journal (a writer still at work, or killed)?"""
        return (self.root / JOURNAL).is_file()

    # ---- reading -------------------------------------------------------------------------
    @classmethod
    def open(cls, root: Union[str, Path]) -> "FeatureSet":
        root = Path(root)
        path = root / MANIFEST
        if not path.is_file():
            raise FeatureSetError(f"{root} is not a feature set: {MANIFEST} is missing")
        try:
            body = json.loads(path.read_bytes())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise FeatureSetError(f"{path} is not valid JSON: {exc}") from exc
        except RecursionError:  # a hostile manifest nested thousands of levels deep
            raise FeatureSetError(f"{path} nests too deeply to be a feature-set manifest") from None
        meta, samples = parse_manifest(body, str(path))
        for n, entry in _journal(root):  # later lines win: a rewritten sample's last record
            where = f"{root / JOURNAL}: line {n}"
            try:
                info = _sample_info(entry, where)
            except FeatureSetError as exc:
                raise FeatureSetError(str(exc) if str(exc).startswith(where) else f"{where}: {exc}") from None
            samples[info.id] = info
        return cls(root, meta, samples)

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
        with path.open("rb") as f:  # the identity and the bytes of one and the same file
            st = os.fstat(f.fileno())
            identity = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
            data = f.read()
        if verify and self._verified.get(sample_id) != (identity, info.sha256):
            if hashlib.sha256(data).hexdigest() != info.sha256:
                raise FeatureSetError(f"sample {sample_id!r}: {path} does not match its sha256 in the manifest")
            self._verified[sample_id] = (identity, info.sha256)
        try:
            array = np.load(io.BytesIO(data), allow_pickle=False)
        except Exception as exc:  # numpy raises ValueError, EOFError, even tokenize errors on bad headers
            raise FeatureSetError(f"sample {sample_id!r}: {path} is not a readable .npy file "
                                  f"({type(exc).__name__}: {exc})") from None
        if list(array.shape) != info.shape or array.dtype.name != info.dtype:
            raise FeatureSetError(f"sample {sample_id!r}: {path} holds {array.dtype.name} {list(array.shape)}, "
                                  f"the manifest says {info.dtype} {info.shape}")
        # A set never holds NaN/Inf (write refuses them): a reconstruction that does came from
        # elsewhere and would give a meaningless score.
        if not np.all(np.isfinite(array)):
            nan, inf = int(np.isnan(array).sum()), int(np.isinf(array).sum())
            raise FeatureSetError(f"sample {sample_id!r}: {path} contains non-finite values ({nan} NaN, {inf} Inf)")
        return array

    def __iter__(self) -> Iterator[tuple[str, np.ndarray]]:
        for sample_id in self._samples:
            yield sample_id, self.read(sample_id)

    def missing(self) -> list[str]:
        """Samples whose file is absent (a stat each; `verify` hashes)."""
        return [s for s in self._samples if not (self.root / f"{s}.npy").is_file()]

    def intact(self, sample_id: str) -> bool:
        """Is the sample's file there with the bytes its record names (read and hashed)?"""
        path = self.root / f"{sample_id}.npy"
        return sample_id in self._samples and path.is_file() and sha256_file(path) == self._samples[sample_id].sha256

    def verify(self) -> list[str]:
        """Problems found (missing files, hash mismatches); empty when the set is intact."""
        problems = []
        for sample_id in self._samples:
            try:
                self.read(sample_id, verify=True)
            except FeatureSetError as exc:
                problems.append(str(exc))
        return problems


def _journal(root: Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed line) of a folder's journal. A line torn by a kill is no JSON and is
    skipped: its sample is not recorded, so a resumed writer redoes it."""
    try:
        text = (root / JOURNAL).read_bytes().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return
    for n, line in enumerate(text.splitlines(), start=1):
        try:
            yield n, json.loads(line)
        except json.JSONDecodeError:
            continue


def _locked(root: Path) -> ContextManager[None]:
    """The lock of a feature-set folder's writers."""
    return atomic.locked(root / LOCK)
