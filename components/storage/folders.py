"""Folder transfers shared by every Storage: push, pull and verify a folder (e.g. a feature set).

A folder is pushed file by file, then its feature-set manifest, then the folder index (names,
sizes, sha256) LAST: a reader that finds the manifest finds every sample, one that finds the
index finds every file. Files already intact on the other side are skipped, so an interrupted
push or pull resumes.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Optional

from fcbench.codecs.common import atomic
from fcbench.codecs.common.hashing import sha256_file
from fcbench.codecs.common.types import PathLike
from fcbench.codecs.features.featureset import MANIFEST
from fcbench.components.storage.config import MiB
from fcbench.components.storage.errors import StorageError, StorageIntegrityError, StorageNotFound
from fcbench.components.storage.featuresets import load_json, manifest_samples, recorded_hashes
from fcbench.components.storage.keys import check_key

INDEX = ".fcbench-index.json"  # the folder index, written after every other file of a folder
INDEX_FORMAT = "fcbench-dir/1"


@dataclass
class TransferReport:
    """What push_dir / pull_dir did: files considered, moved, and skipped as already intact."""

    files: int = 0
    transferred: int = 0
    skipped: int = 0
    bytes: int = 0
    cleaned: int = 0  # leftovers of interrupted uploads removed first (push_dir)

    def __str__(self) -> str:
        text = f"{self.files} files: {self.transferred} transferred ({self.bytes / MiB:.1f} MiB), {self.skipped} already intact"
        return text + (f", {self.cleaned} interrupted upload(s) cleaned up" if self.cleaned else "")


def _join(prefix: str, key: str) -> str:
    return f"{prefix.rstrip('/')}/{key}" if prefix.strip("/") else key


if TYPE_CHECKING:
    from fcbench.components.storage.base import ObjectInfo


class FolderTransfers:
    """Folder operations of a Storage, built on its single-object methods (stat, delete,
    put_file, put_bytes, get_bytes, get_file, checksum, url: see base.Storage)."""

    if TYPE_CHECKING:  # what the type checker needs to know of the Storage this is mixed into
        def stat(self, key: str) -> ObjectInfo: ...
        def delete(self, key: str) -> None: ...
        def url(self, key: str) -> str: ...
        def clean_interrupted_uploads(self, key_prefix: str = "") -> int: ...
        def exists(self, key: str) -> bool: ...
        def put_bytes(self, key: str, data: bytes) -> ObjectInfo: ...
        def put_file(self, key: str, path: PathLike, sha256: Optional[str] = None) -> ObjectInfo: ...
        def get_bytes(self, key: str) -> bytes: ...
        def checksum(self, key: str) -> str: ...
        def get_file(self, key: str, path: PathLike, sha256: Optional[str] = None) -> Path: ...

    def push_dir(self, local_dir: PathLike, key_prefix: str = "") -> TransferReport:
        """Upload a folder (e.g. a feature set) below `key_prefix`; resumable, manifest last.

        What an interrupted push left (incomplete multipart uploads, temp files) is removed first.
        Every file is uploaded first, then `manifest.json`, then the folder index (names, sizes,
        sha256): a reader that finds the manifest finds every sample, one that finds the index
        finds every file. Files already stored with the same sha256 are skipped, so a rerun after
        an interruption resumes. A feature set's samples are read once: their sha256 is the one
        the manifest records, checked while they are sent; a sample that does not match stops
        the push before its manifest and index are written."""
        local_dir = Path(local_dir)
        if not local_dir.is_dir():
            raise StorageNotFound(f"cannot push {local_dir}: not a folder")
        check_key(key_prefix, allow_prefix=True)
        recorded: dict[str, str] = {}
        manifest: Optional[bytes] = None  # the manifest to send when manifest.json lacks journal entries
        if (local_dir / MANIFEST).is_file():
            try:
                recorded, manifest = recorded_hashes(local_dir)
            except StorageIntegrityError as exc:
                raise StorageIntegrityError(f"refusing to push {local_dir}: {exc}") from None
        entries = {rel: (p.stat().st_size, recorded.get(rel) or sha256_file(p)) for rel, p in _walk(local_dir)}
        if manifest is not None:
            entries[MANIFEST] = (len(manifest), hashlib.sha256(manifest).hexdigest())
        if not entries:
            raise StorageNotFound(f"cannot push {local_dir}: the folder holds no files")
        order = sorted(entries, key=lambda rel: (rel == MANIFEST, rel))
        # A push killed midway left its unfinished upload stored (invisible, but kept): this
        # folder is ours, so abort those before pushing again.
        report = TransferReport(files=len(order), cleaned=self.clean_interrupted_uploads(key_prefix))
        pending = [rel for rel in order if not self._intact(_join(key_prefix, rel), *entries[rel])]
        if pending:
            # The old index/manifest would describe files we are about to replace: withdraw
            # them first so no reader trusts a half-updated folder.
            self.delete(_join(key_prefix, INDEX))
            if MANIFEST in entries:
                self.delete(_join(key_prefix, MANIFEST))
                if MANIFEST not in pending:
                    pending.append(MANIFEST)
        for rel in order:
            if rel not in pending:
                report.skipped += 1
                continue
            size, sha = entries[rel]
            try:
                if rel == MANIFEST and manifest is not None:
                    self.put_bytes(_join(key_prefix, rel), manifest)
                else:
                    self.put_file(_join(key_prefix, rel), local_dir / rel, sha256=sha)
            except StorageIntegrityError:
                if rel not in recorded:
                    raise
                raise StorageIntegrityError(f"refusing to push {local_dir}: sample {rel[:-4]!r}: {local_dir / rel} "
                                            "does not match its sha256 in the manifest") from None
            report.transferred += 1
            report.bytes += size
        index = {"format": INDEX_FORMAT, "files": {rel: {"size": s, "sha256": h} for rel, (s, h) in sorted(entries.items())}}
        index_bytes = (json.dumps(index, indent=1, sort_keys=True) + "\n").encode()
        if pending or not self._intact(_join(key_prefix, INDEX), len(index_bytes), hashlib.sha256(index_bytes).hexdigest()):
            self.put_bytes(_join(key_prefix, INDEX), index_bytes)
        return report

    def _intact(self, key: str, size: int, sha: str) -> bool:
        """Is `key` already stored with this size and content?"""
        try:
            info = self.stat(key)
        except StorageNotFound:
            return False
        if info.size != size:
            return False
        return (info.sha256 or self.checksum(key)) == sha

    def read_index(self, key_prefix: str = "") -> dict[str, dict]:
        """{relative name: {size, sha256}} of a pushed folder: from its index, else (a feature
        set written by other means) from its manifest. StorageNotFound when neither exists."""
        return self._read_index(key_prefix)[0]

    def _read_index(self, key_prefix: str) -> tuple[dict[str, dict], Optional[bytes]]:
        """(files, the index's raw bytes or None when it came from the manifest)."""
        check_key(key_prefix, allow_prefix=True)
        ikey = _join(key_prefix, INDEX)
        try:
            raw = self.get_bytes(ikey)
        except StorageNotFound:
            raw = None
        if raw is not None:
            body = load_json(raw, self.url(ikey))
            if body.get("format") != INDEX_FORMAT or not isinstance(body.get("files"), dict):
                raise StorageIntegrityError(f"{self.url(ikey)} is not an {INDEX_FORMAT} index")
            return body["files"], raw
        try:
            manifest = load_json(self.get_bytes(_join(key_prefix, MANIFEST)), self.url(_join(key_prefix, MANIFEST)))
        except StorageNotFound:
            raise StorageNotFound(
                f"{self.url(key_prefix)} is not a pushed folder: neither {INDEX} nor {MANIFEST} is there"
            ) from None
        files = {f"{sid}.npy": {"size": None, "sha256": sha} for sid, sha in manifest_samples(manifest, self.url(_join(key_prefix, MANIFEST)))}
        files[MANIFEST] = {"size": None, "sha256": None}
        return files, None

    def pull_dir(self, key_prefix: str, local_dir: PathLike) -> TransferReport:
        """Download a pushed folder into `local_dir`, every file checked against its sha256.

        Files already present and intact are kept (a rerun resumes); the manifest and the index
        are written last, so the local folder, too, is complete once they appear."""
        local_dir = Path(local_dir)
        files, index_bytes = self._read_index(key_prefix)
        order = sorted(files, key=lambda rel: (rel == MANIFEST, rel))
        report = TransferReport(files=len(order))
        for rel in order:
            check_key(rel)
            entry = files[rel]
            dest = local_dir / rel
            if entry.get("sha256") and dest.is_file() and sha256_file(dest) == entry["sha256"]:
                report.skipped += 1
                continue
            self.get_file(_join(key_prefix, rel), dest, sha256=entry.get("sha256"))
            report.transferred += 1
            report.bytes += dest.stat().st_size
        local_index = local_dir / INDEX
        if index_bytes is not None and not (local_index.is_file() and local_index.read_bytes() == index_bytes):
            atomic.write_bytes(local_index, index_bytes)
        if (local_dir / MANIFEST).is_file():
            # Every file was checked against `files` as it arrived (or found intact): the
            # manifest must name those same bytes.
            try:
                recorded, _ = recorded_hashes(local_dir)
            except StorageIntegrityError as exc:
                raise StorageIntegrityError(f"pulled {self.url(key_prefix)} to {local_dir} but: {exc}") from None
            wrong = [rel for rel, sha in recorded.items() if files.get(rel, {}).get("sha256") not in (None, sha)]
            if wrong:
                raise StorageIntegrityError(f"pulled {self.url(key_prefix)} to {local_dir} but its manifest and index "
                                            f"disagree on {wrong[:3]}")
        return report

    def verify_dir(self, key_prefix: str = "") -> list[str]:
        """Problems of a stored folder against its index (or manifest): missing files, wrong
        sizes, content whose sha256 differs. Empty when intact. Streams, stores nothing."""
        try:
            files = self.read_index(key_prefix)
        except StorageError as exc:
            return [str(exc)]
        problems = []
        for rel, entry in sorted(files.items()):
            key = _join(key_prefix, rel)
            try:
                info = self.stat(key)
                if entry.get("size") is not None and info.size != entry["size"]:
                    problems.append(f"{self.url(key)}: {info.size} bytes, the index says {entry['size']}")
                elif entry.get("sha256") and self.checksum(key) != entry["sha256"]:
                    problems.append(f"{self.url(key)}: content does not match its sha256")
            except StorageNotFound:
                problems.append(f"{self.url(key)}: missing")
        return problems

    def verify_featureset(self, key_prefix: str = "") -> list[str]:
        """Problems of a stored feature set: no/invalid manifest, missing or altered samples."""
        check_key(key_prefix, allow_prefix=True)
        mkey = _join(key_prefix, MANIFEST)
        try:
            manifest = load_json(self.get_bytes(mkey), self.url(mkey))
        except StorageError as exc:
            return [f"not a feature set: {exc}"]
        try:
            samples = manifest_samples(manifest, self.url(mkey))
        except StorageIntegrityError as exc:
            return [str(exc)]
        problems = []
        for sid, sha in samples:
            key = _join(key_prefix, f"{sid}.npy")
            try:
                if self.checksum(key) != sha:
                    problems.append(f"sample {sid!r}: {self.url(key)} does not match its sha256 in the manifest")
            except StorageNotFound:
                problems.append(f"sample {sid!r}: {self.url(key)} is missing")
        if self.exists(_join(key_prefix, INDEX)):
            problems += [p for p in self.verify_dir(key_prefix) if p not in problems]
        return problems


def _walk(root: Path) -> Iterator[tuple[str, Path]]:
    """(relative posix name, path) of every file to push; skips the index and hidden temp
    files (atomic writes and partial downloads are dot-files)."""
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_file() and not any(part.startswith(".") for part in rel.parts):
            yield rel.as_posix(), path
