"""Conformance checks any codec (built-in or plug-in) must pass; call them from a plug-in's tests:

    from fcbench.codecs.conformance import check_codec

    def test_my_codec_conforms():
        check_codec("mycodec", rate_points=[0, 2], options={"level": 6})

What is checked, on small structured features of a few shapes (odd sizes included):
- round trip: decode(encode(x)) has x's shape and dtype, finite values, and the decoded frame
  stays close to the coded frame at the best rate point given (a codec, not noise);
- rate from real bytes: the rate fcbench reports is the container's length split by the codec's
  payload_parts; encoding is deterministic (the cache and KFP caching rely on it);
- identity stable: the five keys, JSON-serialisable, the registered name, equal for two builds
  with the same options and across calls;
- corrupt containers fail: a flipped byte (CRC) and a truncated payload re-packed with a valid
  CRC both raise instead of returning an array; another codec's container is refused.
A failure raises ConformanceError listing every failed check.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np

from fcbench.codecs.chain.container import pack_container, unpack_container
from fcbench.codecs.measured_rate import container_rate
from fcbench.codecs.protocol import Codec, Conditions, RatePoint
from fcbench.codecs.registry import get_codec

IDENTITY_KEYS = {"name", "version", "binary_sha256", "cfg_sha256", "options"}
SHAPES = ((1, 1, 24, 40), (1, 3, 7, 9))  # a token-like frame and an odd-sized multi-channel one


class ConformanceError(AssertionError):
    """A codec failed conformance checks; the message lists each failure."""


@dataclass
class Report:
    codec: str
    passed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def check(self, what: str, fn: Callable[[], Optional[str]]) -> None:
        """Run one check: it returns None (passed) or a reason, or raises (failed with the error)."""
        try:
            reason = fn()
        except Exception as exc:  # a check that crashes is a failed check, reported with the error
            reason = f"raised {type(exc).__name__}: {exc}"
        (self.failed if reason else self.passed).append(f"{what}: {reason}" if reason else what)


def sample_feature(shape: Sequence[int], seed: int = 0) -> np.ndarray:
    """Smooth fields plus a little noise: structured like real features, reproducible."""
    rng = np.random.default_rng(seed)
    n, c, h, w = shape
    rows, cols = np.meshgrid(np.linspace(0, 1, h), np.linspace(0, 1, w), indexing="ij")
    x = np.stack([np.sin(2 * np.pi * (rng.uniform(0.5, 2) * cols + rng.uniform())) * np.cos(3 * rows)
                  for _ in range(n * c)]).reshape(n, c, h, w)
    return (2.0 * x + rng.normal(0, 0.1, x.shape)).astype(np.float32)


def _conditions(codec: Codec) -> dict:
    return {"low": -3.0, "high": 3.0, "layout": "generic", **({"bit_depth": 10} if codec.frame_kind == "integer" else {})}


def _roundtrip(codec: Codec, rate_points: Sequence[RatePoint], cond: dict, shapes: Sequence) -> Optional[str]:
    for shape in shapes:
        x = sample_feature(shape)
        for rate_point in rate_points:
            recon = codec.decode(codec.encode(x, rate_point, **cond))
            if recon.shape != x.shape or recon.dtype != x.dtype:
                return f"{shape} at {rate_point}: decoded {recon.shape} {recon.dtype}, expected {x.shape} {x.dtype}"
            if not np.all(np.isfinite(recon)):
                return f"{shape} at {rate_point}: non-finite values decoded"
    return None


def _close_at_best(codec: Codec, rate_points: Sequence[RatePoint], cond: dict, shapes: Sequence) -> Optional[str]:
    x = sample_feature(shapes[0])
    best = min(rate_points, key=lambda rate_point: -len(codec.encode(x, rate_point, **cond)))  # the most bits spent
    recon = codec.decode(codec.encode(x, best, **cond))
    rmse = float(np.sqrt(np.mean((recon.astype(np.float64) - np.clip(x, -3.0, 3.0)) ** 2)))
    return None if rmse < 0.5 else f"RMSE {rmse:.3g} of a [-3, 3] range at the richest rate point {best}"


def _rate(codec: Codec, rate_points: Sequence[RatePoint], cond: dict, shapes: Sequence) -> Optional[str]:
    x = sample_feature(shapes[-1], seed=1)
    for rate_point in rate_points:
        data = codec.encode(x, rate_point, **cond)
        if codec.encode(x, rate_point, **cond) != data:
            return f"encoding at {rate_point} twice gave different bytes (not deterministic)"
        header, payload = unpack_container(data)
        if header.codec != codec.name or header.rate_point != rate_point:
            return f"container says codec {header.codec!r} at {header.rate_point}, expected {codec.name!r} at {rate_point}"
        rate = container_rate(data, codec=codec)
        parts = type(codec).payload_parts(payload, header)
        coded = parts.bitstream_bytes + parts.side_bytes + header.side_bytes
        if rate.total_bytes != len(data) or rate.container_bytes != len(data) - coded or coded <= 0:
            return f"rate at {rate_point} does not add up to the container's {len(data)} bytes: {rate}"
        if abs(rate.bpfp - 8.0 * coded / x.size) > 1e-9:
            return f"bpfp {rate.bpfp} at {rate_point} is not 8 * {coded} coded bytes / {x.size} points"
    return None


def _identity(codec: Codec, name: str, options: dict) -> Optional[str]:
    ident = codec.identity
    if not isinstance(ident, dict) or set(ident) != IDENTITY_KEYS:
        return f"identity must be a dict with exactly {sorted(IDENTITY_KEYS)}, got {ident!r}"
    if ident["name"] != name:
        return f"identity name {ident['name']!r} is not the registered name {name!r}"
    json.dumps(ident, sort_keys=True)
    if codec.identity != ident or get_codec(name, **options).identity != ident:
        return "identity differs between calls or between two builds with the same options"
    return None


def _corrupt(codec: Codec, rate_points: Sequence[RatePoint], cond: dict, other: str,
             shapes: Sequence) -> Optional[str]:
    data = codec.encode(sample_feature(shapes[0]), rate_points[0], **cond)
    header, payload = unpack_container(data)
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x5A
    bad = {"a flipped byte": bytes(flipped),
           "a truncated payload (valid CRC)": pack_container(header, payload[: len(payload) // 2])}
    for what, blob in bad.items():
        try:
            codec.decode(blob)
        except Exception:
            continue
        return f"decoding a container with {what} returned an array instead of failing"
    foreign = get_codec(other).encode(sample_feature(SHAPES[0]), 0, low=-3.0, high=3.0)
    try:
        codec.decode(foreign)
    except Exception:
        return None
    return f"decoding a {other!r} container did not fail"


def check_codec(name: str, rate_points: Sequence[RatePoint], options: Optional[dict] = None,
                shapes: Optional[Sequence[Sequence[int]]] = None) -> Report:
    """Run every check on codec `name` built with `options` at `rate_points` (at least one, those
    the codec accepts) on features of `shapes` (default SHAPES; a codec fitted to one channel
    layout, such as klt with its table, names its own); raise ConformanceError listing the
    failures, else return the Report."""
    options = dict(options or {})
    shapes = [tuple(s) for s in (shapes or SHAPES)]
    if not rate_points:
        raise ValueError("check_codec needs at least one rate point the codec accepts")
    codec = get_codec(name, **options)
    cond = _conditions(codec)
    Conditions(**cond)
    report = Report(name)
    report.check("round trip (shape, dtype, finite)", lambda: _roundtrip(codec, rate_points, cond, shapes))
    report.check("close to the input at the richest rate point", lambda: _close_at_best(codec, rate_points, cond, shapes))
    report.check("rate from the real bytes, deterministic", lambda: _rate(codec, rate_points, cond, shapes))
    report.check("identity complete and stable", lambda: _identity(codec, name, options))
    other = "bypass" if name != "bypass" else "lossless"
    report.check("corrupt or foreign containers fail", lambda: _corrupt(codec, rate_points, cond, other, shapes))
    if report.failed:
        raise ConformanceError(f"codec {name!r} fails {len(report.failed)} conformance check(s):\n  "
                               + "\n  ".join(report.failed))
    return report

