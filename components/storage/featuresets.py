"""Feature sets in object storage: manifest checks and the problems of a local feature set."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from fcbench.codecs.common import atomic
from fcbench.codecs.features.featureset import MANIFEST, FeatureSet, FeatureSetError, parse_manifest
from fcbench.components.storage.errors import StorageIntegrityError


def load_json(data: bytes, where: str) -> dict:
    """A JSON object read from storage; StorageIntegrityError naming `where` otherwise."""
    try:
        body = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StorageIntegrityError(f"{where} is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise StorageIntegrityError(f"{where} is not a JSON object")
    return body


def manifest_samples(manifest: dict, where: str) -> list[tuple[str, str]]:
    """(sample id, sha256) pairs of a feature-set manifest, checked by the feature sets' own
    rule (fcbench.codecs.features.featureset.parse_manifest): a manifest read from a bucket must not
    steer downloads outside the target folder."""
    try:
        _, samples = parse_manifest(manifest, where)
    except FeatureSetError as exc:
        raise StorageIntegrityError(str(exc)) from None
    return [(sid, info.sha256) for sid, info in samples.items()]


def recorded_hashes(folder: Path) -> tuple[dict[str, str], Optional[bytes]]:
    """({"<sample>.npy": sha256}, manifest) of a local feature set, from its manifest and journal
    (no sample is read): the hashes its writer computed. The manifest bytes are None when
    manifest.json is complete, else the manifest a reader sees (samples still in the journal of
    a writer at work or killed included). StorageIntegrityError for a set that is unreadable or
    lacks sample files."""
    try:
        fs = FeatureSet.open(folder)
    except (FeatureSetError, TypeError, KeyError) as exc:
        raise StorageIntegrityError(f"{folder / MANIFEST}: {exc}") from None
    missing = fs.missing()
    if missing:
        raise StorageIntegrityError(f"{folder}: samples {missing[:3]} have no file ({len(missing)} missing)")
    merged = None
    if fs.pending:
        merged = (json.dumps(atomic.strict_json(fs.manifest()), indent=2, sort_keys=True, allow_nan=False) + "\n").encode()
    return {f"{sid}.npy": fs.info(sid).sha256 for sid in fs.ids}, merged


def featureset_problems(folder: Path) -> list[str]:
    """Problems of a local feature set (FeatureSet.verify), a broken manifest included."""
    try:
        return FeatureSet.open(folder).verify()
    except (FeatureSetError, OSError) as exc:
        return [f"{folder / MANIFEST}: {exc}"]
