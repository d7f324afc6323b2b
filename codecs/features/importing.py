"""Import the released feature test set: a folder of `<sample>.npy` files as published (the
reference's `<model>/<task>/feature_test/`) -> an ordinary fcbench feature set.

Every file is checked against the test conditions before it counts: its name against the
official sample list (`testsets.py`), its header against the task's shape pattern and dtype
(csr: L from the official shape list), its size against the header, and every value for
finiteness. Files are streamed in chunks (a dpt sample is 79 MB; the set is never held in
memory) into a temp file that is renamed when complete, and the manifest is rewritten after
every sample, so an import killed at any moment resumes where it stopped. A file already
imported whose size and modification time are unchanged is not read again; one whose content
(sha256) is unchanged is not copied again. The released bytes are kept as they are.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Optional

import numpy as np

from fcbench.codecs.common import atomic
from fcbench.codecs.common.types import PathLike
from fcbench.codecs.conditions import TaskConditions, conditions_version, load_conditions
from fcbench.codecs.features import testsets
from fcbench.codecs.features.featureset import MANIFEST, FeatureSet, FeatureSetError

CHUNK = 8 << 20  # bytes per read; a multiple of every item size
SOURCE_NAME = "released FCM-LM feature test set"


class ReleasedFileError(ValueError):
    """A released file that does not meet the test conditions (names the file and the problem)."""


@dataclass
class ImportReport:
    model: str
    task: str
    source: Path
    dest: Path
    copied: list[str] = field(default_factory=list)     # sample ids written now
    unchanged: list[str] = field(default_factory=list)  # already imported, nothing copied
    bad: dict[str, str] = field(default_factory=dict)   # file name -> problem (not imported)
    missing: list[str] = field(default_factory=list)    # official ids without a file
    extra: list[str] = field(default_factory=list)      # files that are not official samples
    bytes_copied: int = 0
    bytes_read: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.bad

    def lines(self) -> list[str]:
        """What a person reads: counts, then every bad, missing and extra file by name."""
        rate = self.bytes_read / 1e6 / self.seconds if self.seconds > 0 else 0.0
        out = [f"{self.model}/{self.task}: {self.source} -> {self.dest}: {len(self.copied)} copied, "
               f"{len(self.unchanged)} unchanged, {len(self.bad)} bad, {len(self.missing)} missing, "
               f"{len(self.extra)} extra; {self.bytes_copied / 1e6:.1f} MB written, "
               f"{self.bytes_read / 1e6:.1f} MB read in {self.seconds:.1f} s ({rate:.0f} MB/s)"]
        out += [f"  bad: {name}: {why}" for name, why in sorted(self.bad.items())]
        out += [f"  missing: {sid}.npy (official sample, no file)" for sid in self.missing]
        out += [f"  extra: {name} (not in the official sample list; not imported)" for name in self.extra]
        return out


def read_header(f: BinaryIO, name: str) -> tuple[tuple[int, ...], np.dtype, bool]:
    """(shape, dtype, fortran_order) of an open .npy file, positioned at the data."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(f)
        else:
            shape, fortran, dtype = fmt._read_array_header(f, version)  # type: ignore[attr-defined]  # 3.0: utf-8 header
    except (ValueError, OSError, SyntaxError) as exc:
        raise ReleasedFileError(f"{name}: not a readable .npy file ({exc})") from None
    return tuple(int(s) for s in shape), np.dtype(dtype), bool(fortran)


def check_header(name: str, sample_id: str, shape: tuple[int, ...], dtype: np.dtype, tc: TaskConditions) -> None:
    """The test conditions on a released header: dtype and shape pattern."""
    if dtype.hasobject or dtype.name != tc.feature_dtype:
        raise ReleasedFileError(f"{name}: dtype {dtype.str} ({dtype.name}), the test conditions say {tc.feature_dtype}")
    want = testsets.expected_shape(tc.model, tc.task, sample_id, tc.feature_shape)
    text = "x".join("*" if s is None else str(s) for s in want)
    if len(shape) != len(want) or any(w is not None and s != w for s, w in zip(shape, want)) or 0 in shape:
        raise ReleasedFileError(f"{name}: shape {'x'.join(map(str, shape))}, the test conditions say {text}")


def copy_checked(src: Path, dest: Path, tc: TaskConditions, sample_id: str) -> tuple[str, tuple[int, ...], int]:
    """Stream `src` to `dest` (atomic), checking it on the way -> (sha256, shape, bytes).

    Nothing is left at `dest` when a check fails."""
    name = src.name
    digest = hashlib.sha256()
    with open(src, "rb") as f, atomic.open_write(dest) as out:
        shape, dtype, _ = read_header(f, name)
        check_header(name, sample_id, shape, dtype, tc)
        offset = f.tell()
        expected = int(np.prod(shape)) * dtype.itemsize
        if src.stat().st_size != offset + expected:
            raise ReleasedFileError(f"{name}: {src.stat().st_size} bytes, its header ({'x'.join(map(str, shape))} "
                                    f"{dtype.name}) needs {offset + expected}: truncated or padded")
        f.seek(0)
        head = f.read(offset)
        digest.update(head)
        out.write(head)
        done = 0
        while chunk := f.read(CHUNK):
            values = np.frombuffer(chunk, dtype=dtype)
            finite = np.isfinite(values)
            if not finite.all():
                first = done // dtype.itemsize + int(np.argmin(finite))
                raise ReleasedFileError(f"{name}: non-finite value {values[~finite][0]} at flat index {first}")
            digest.update(chunk)
            out.write(chunk)
            done += len(chunk)
        if done != expected:
            raise ReleasedFileError(f"{name}: changed while it was read ({done} data bytes, expected {expected})")
    return digest.hexdigest(), shape, offset + expected


def _stamp(path: Path) -> dict:
    st = path.stat()
    return {"file": path.name, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _remove_stale_temps(dest: Path) -> None:
    """Temp files a killed import left behind (open_write's dot-files)."""
    for p in dest.glob(".*.npy.*.tmp"):
        p.unlink(missing_ok=True)


def _open_dest(dest: Path, tc: TaskConditions, source: Path) -> FeatureSet:
    if (dest / MANIFEST).is_file():
        fs = FeatureSet.open(dest)
        if (fs.meta.get("model"), fs.meta.get("task")) != (tc.model, tc.task):
            raise FeatureSetError(f"{dest} holds a {fs.meta.get('model')}/{fs.meta.get('task')} feature set, "
                                  f"not {tc.model}/{tc.task}")
    return FeatureSet.create(dest, tc.model, tc.task, tc.split_point, source=SOURCE_NAME,
                             imported_from=str(source), conditions_version=conditions_version())


def import_released(source: PathLike, model: str, task: str, dest: PathLike,
                    progress: bool = False) -> ImportReport:
    """Import the released `<sample>.npy` files of `source` into the feature set `dest`.

    Returns the report; bad files are named there and not imported (the caller decides the exit
    status). Raises FeatureSetError when `source` is not a folder or `dest` holds another set."""
    t0 = time.perf_counter()
    tc = load_conditions().get(model, task)
    source, dest = Path(source), Path(dest)
    if not source.is_dir():
        raise FeatureSetError(f"released feature folder {source} does not exist or is not a folder")
    report = ImportReport(model, task, source, dest)
    official = testsets.official_ids(model, task)
    files: dict[str, Path] = {}
    for path in sorted(source.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        sid = testsets.sample_id_of(model, task, path.stem) if path.suffix == ".npy" else None
        if sid is None or sid not in official:
            report.extra.append(path.name)
        elif sid in files:
            report.bad[path.name] = f"a second file for sample {sid} (first: {files[sid].name})"
        else:
            files[sid] = path
    report.missing = [sid for sid in official if sid not in files]
    with _open_dest(dest, tc, source) as fs:
        _remove_stale_temps(dest)
        for sample in _progress([s for s in official if s in files], progress, f"import {model}/{task}"):
            _import_one(fs, files[sample], sample, tc, report)
    report.seconds = time.perf_counter() - t0
    return report


def _import_one(fs: FeatureSet, src: Path, sid: str, tc: TaskConditions, report: ImportReport) -> None:
    stamp = _stamp(src)
    have: Optional[dict] = fs.info(sid).extra.get("released") if sid in fs else None
    target = fs.root / f"{sid}.npy"
    if have == stamp and target.stat().st_size == stamp["size"]:
        report.unchanged.append(sid)  # same file as imported before: not even read
        return
    if sid in fs and target.stat().st_size == stamp["size"]:
        sha = _checked_sha(src, tc, sid, report)  # same content under a new time stamp?
        if sha is None:
            return
        if sha == fs.info(sid).sha256:
            info = fs.info(sid)
            fs.adopt(sid, info.shape, info.dtype, info.origin_dtype, sha, released=stamp)
            report.unchanged.append(sid)
            return
    try:
        sha, shape, size = copy_checked(src, target, tc, sid)
    except ReleasedFileError as exc:
        report.bad[src.name] = str(exc).removeprefix(f"{src.name}: ")
        return
    report.bytes_read += size
    report.bytes_copied += size
    fs.adopt(sid, list(shape), tc.feature_dtype, tc.origin_dtype, sha, released=stamp)
    report.copied.append(sid)


def _checked_sha(src: Path, tc: TaskConditions, sid: str, report: ImportReport) -> Optional[str]:
    """sha256 of a released file, checked as an import checks it, without writing anything."""
    digest = hashlib.sha256()
    with open(src, "rb") as f:
        try:
            shape, dtype, _ = read_header(f, src.name)
            check_header(src.name, sid, shape, dtype, tc)
        except ReleasedFileError as exc:
            report.bad[src.name] = str(exc).removeprefix(f"{src.name}: ")
            return None
        f.seek(0)
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            report.bytes_read += len(chunk)
    return digest.hexdigest()


def find_released(root: PathLike) -> list[tuple[str, str, Path]]:
    """(model, task, folder) of every `<model>/<task>/feature_test` under `root`, sorted."""
    root = Path(root)
    if not root.is_dir():
        raise FeatureSetError(f"{root} does not exist or is not a folder")
    return sorted((p.parent.parent.name, p.parent.name, p) for p in root.rglob("feature_test") if p.is_dir())


def _progress(items: list, enabled: bool, desc: str):
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit="file")
