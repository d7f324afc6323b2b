"""Rate accounting from real bytes: BPFP, EBPFP and dataset averages (TEST_CONDITIONS.md §6)."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable, Sequence

import numpy as np

from fcbench.codecs.container import unpack_container

DTYPE_BITS = {"float32": 32, "float16": 16, "bfloat16": 16, "float64": 64}


def points(shape: Sequence[int]) -> int:
    """Feature points = N*C*H*W of the original tensor (codec padding never counts)."""
    n = int(np.prod([int(s) for s in shape]))
    if n <= 0:
        raise ValueError(f"a feature of shape {tuple(shape)} has no points")
    return n


def bpfp(nbytes: int, shape: Sequence[int]) -> float:
    """Bits per feature point: every written byte over the original tensor's points."""
    return 8.0 * int(nbytes) / points(shape)


def ebpfp(bpfp_value: float, dtype: str) -> float:
    """Equivalent BPFP: BPFP normalised to a 32-bit original (BPFP * 32 / dtype bits)."""
    if dtype not in DTYPE_BITS:
        raise ValueError(f"unknown original dtype {dtype!r}; known: {sorted(DTYPE_BITS)}")
    return bpfp_value * 32.0 / DTYPE_BITS[dtype]


@dataclass(frozen=True)
class Rate:
    total_bytes: int
    header_bytes: int
    payload_bytes: int
    points: int
    bpfp: float
    ebpfp: float

    def as_dict(self) -> dict:
        return asdict(self)


def container_rate(data: bytes, origin_dtype: str | None = None) -> Rate:
    """Rate of one container, counted from its bytes (header included and also shown apart)."""
    header, payload = unpack_container(data)
    n = points(header.shape)
    value = bpfp(len(data), header.shape)
    return Rate(
        total_bytes=len(data),
        header_bytes=len(data) - len(payload),
        payload_bytes=len(payload),
        points=n,
        bpfp=value,
        ebpfp=ebpfp(value, origin_dtype or header.dtype),
    )


def dataset_bpfp(values: Iterable[float]) -> float:
    """Dataset BPFP = arithmetic mean of per-sample BPFP."""
    vals = [float(v) for v in values]
    if not vals:
        raise ValueError("dataset BPFP of an empty set")
    return float(np.mean(vals))
