"""Codec identity hashes: what a pipeline pins a codec build by (and KFP caches on).

A codec's `identity` (fcbench.codecs) is a dict: name, version, binary and cfg sha256, options.
Its `identity_hash` is the sha256 of that dict as canonical JSON; pipelines pass the hash.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any


def identity_hash(identity: dict) -> str:
    """sha256 of a codec identity (name, version, binary/cfg sha256, options) as canonical JSON."""
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()


def check_identity(codec: Any, expected: str) -> str:
    """Refuse to run a codec whose identity differs from the one the pipeline was given.

    The expected hash is a task input, so it is part of KFP's cache key: a different binary,
    cfg or option then means a different key, never a stale cached result.
    """
    actual = identity_hash(codec.identity)
    if not expected:
        raise ValueError(
            f"codec {codec.identity.get('name')!r}: no codec identity given; pass the identity hash "
            f"({actual} here) so KFP caching cannot return results of another build"
        )
    if expected != actual:
        raise ValueError(
            f"codec {codec.identity.get('name')!r} in this image has identity {actual}, the pipeline "
            f"was given {expected}: the binary, cfg or options differ (identity: {codec.identity})"
        )
    return actual
