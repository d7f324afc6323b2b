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


PASSED_THROUGH = ("chain", "rate_points")  # entry keys the grid uses (prepare_coding), not the identity


def parse_codec_entry(entry: Any) -> dict:
    """One entry of the `codecs` parameter -> {codec, options[, identity_hash, chain, rate_points]}.

    Accepted: "NAME", "NAME:{json options}" (the CLI's --codec syntax; a "chain" key in the JSON
    is the entry's chain, not an option) or {"codec": NAME, "options": {...}, "identity_hash": pin,
    "chain": {...}, "rate_points": [...]}.
    """
    if isinstance(entry, str):
        name, sep, opts = entry.partition(":")
        try:
            options = json.loads(opts) if sep else {}
        except json.JSONDecodeError as exc:
            raise ValueError(f"codec entry {entry!r}: options after ':' are not JSON ({exc})") from None
        if not isinstance(options, dict):
            raise ValueError(f"codec entry {entry!r}: options must be a JSON object")
        chain = options.pop("chain", None)
        entry = {"codec": name, "options": options, **({"chain": chain} if chain else {})}
    if not isinstance(entry, dict) or not isinstance(entry.get("codec"), str) or not entry["codec"].strip():
        raise ValueError(f"codec entry {entry!r}: expected \"NAME\", \"NAME:{{json}}\" or {{\"codec\": NAME, ...}}")
    unknown = sorted(set(entry) - {"codec", "options", "identity_hash", *PASSED_THROUGH})
    if unknown:
        raise ValueError(f"codec entry {entry!r}: unknown key(s) {unknown}")
    options = entry.get("options") or {}
    if not isinstance(options, dict):
        raise ValueError(f"codec entry {entry!r}: options must be a JSON object")
    out = {"codec": entry["codec"].strip(), "options": options}
    if entry.get("identity_hash"):
        out["identity_hash"] = str(entry["identity_hash"])
    out.update({k: entry[k] for k in PASSED_THROUGH if entry.get(k)})
    return out


def resolve_identity(name: str, options: dict, pin: str = "") -> dict:
    """{codec, options, identity, identity_hash} of the codec as built in this environment;
    with a `pin`, refuse a build whose identity hash differs."""
    from fcbench.codecs import get_codec
    from fcbench.components.inputs import staged_codec_options

    try:
        codec = get_codec(name, **staged_codec_options(name, options))
        identity = codec.identity
    except Exception as exc:  # a missing binary, an unknown option: say which codec, here
        raise ValueError(f"codec {name!r} (options {options}) is not usable here: {type(exc).__name__}: {exc}") from exc
    actual = identity_hash(identity)
    if pin and pin != actual:
        raise ValueError(f"codec {name!r} here has identity {actual}, the run pinned {pin}: the binary, cfg or "
                         f"options differ (identity: {identity})")
    return {"codec": name, "options": dict(options), "identity": identity, "identity_hash": actual}
