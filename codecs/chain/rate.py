"""Rate accounting from real bytes: BPFP as the paper counts it, EBPFP, dataset averages.

One coded feature is a container (see `container.py`): fcbench's header, the codec payload and a
CRC. The paper's BPFP counts only what the paper's decoder needed: the codec's own bitstream
(the `.bin` VTM/VVenC/x265 wrote, the hyperprior's y and z strings) plus any coded side
information fcbench adds (`side_bytes`: the chain's outlier side channel, fcbench.codecs.chain.outliers,
carried in its own container section; 0 when it is off). Everything else (the container header
with shape, ranges - fitted range tables included - and codec id, a payload's own length fields,
the CRC) is fcbench overhead: real bytes, reported in its own column (`container_bpfp`), never mixed
into `bpfp`. The reference's decoder took those parameters from the test conditions instead.
See docs/codecs.md ("Rate").
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable, Optional, Sequence

import numpy as np

from fcbench.codecs.chain.container import Header

DTYPE_BITS = {"float32": 32, "float16": 16, "bfloat16": 16, "float64": 64}
# Per-sample rate columns of results tables, in order (also the names of MLflow metrics).
RATE_FIELDS = ("bytes", "bitstream_bytes", "side_bytes", "container_bytes", "points", "bpfp", "side_bpfp",
               "container_bpfp", "ebpfp")


def points(shape: Sequence[int]) -> int:
    """Feature points = N*C*H*W of the original tensor (codec padding never counts)."""
    n = int(np.prod([int(s) for s in shape]))
    if n <= 0:
        raise ValueError(f"a feature of shape {tuple(shape)} has no points")
    return n


def bpfp(nbytes: int, shape: Sequence[int]) -> float:
    """Bits per feature point of `nbytes` over the original tensor's points."""
    return 8.0 * int(nbytes) / points(shape)


def ebpfp(bpfp_value: float, dtype: str) -> float:
    """Equivalent BPFP: BPFP normalised to a 32-bit original (BPFP * 32 / dtype bits)."""
    if dtype not in DTYPE_BITS:
        raise ValueError(f"unknown original dtype {dtype!r}; known: {sorted(DTYPE_BITS)}")
    return bpfp_value * 32.0 / DTYPE_BITS[dtype]


@dataclass(frozen=True)
class PayloadParts:
    """How a codec's payload splits for the rate. A codec says this (Codec.payload_parts); the
    payload bytes not named here are fcbench overhead and count in the container column."""

    bitstream_bytes: int  # the codec's own bitstream: what the paper's BPFP counts
    side_bytes: int = 0  # coded side information fcbench adds: counts in BPFP, also shown apart

    def check(self, payload_bytes: int, codec: str) -> None:
        if self.bitstream_bytes < 0 or self.side_bytes < 0:
            raise ValueError(f"codec {codec!r}: negative payload parts {self}")
        if self.bitstream_bytes + self.side_bytes > payload_bytes:
            raise ValueError(f"codec {codec!r}: payload parts {self} exceed the {payload_bytes}-byte payload")


@dataclass(frozen=True)
class Rate:
    """The rate of one coded feature. bpfp = 8 * (bitstream + side bytes) / points (the paper's
    BPFP); container_bpfp = 8 * every other byte of the container / points."""

    total_bytes: int
    bitstream_bytes: int
    side_bytes: int
    container_bytes: int
    points: int
    bpfp: float
    side_bpfp: float
    container_bpfp: float
    ebpfp: float

    @property
    def total_bpfp(self) -> float:
        """Every byte written (what storing the .bin file costs)."""
        return self.bpfp + self.container_bpfp

    def as_dict(self) -> dict:
        return asdict(self)

    def row(self) -> dict:
        """The rate columns of a results row (RATE_FIELDS)."""
        d = self.as_dict()
        d["bytes"] = d.pop("total_bytes")
        return {k: d[k] for k in RATE_FIELDS}


def rate_of(header: Header, total_bytes: int, parts: PayloadParts, origin_dtype: Optional[str] = None) -> Rate:
    """The rate of a container of `total_bytes` whose payload splits into `parts`."""
    n = points(header.shape)
    coded = parts.bitstream_bytes + parts.side_bytes
    value = bpfp(coded, header.shape)
    return Rate(
        total_bytes=int(total_bytes),
        bitstream_bytes=parts.bitstream_bytes,
        side_bytes=parts.side_bytes,
        container_bytes=int(total_bytes) - coded,
        points=n,
        bpfp=value,
        side_bpfp=bpfp(parts.side_bytes, header.shape),
        container_bpfp=bpfp(int(total_bytes) - coded, header.shape),
        ebpfp=ebpfp(value, origin_dtype or header.dtype),
    )


def dataset_bpfp(values: Iterable[float]) -> float:
    """Dataset BPFP = arithmetic mean of per-sample BPFP."""
    vals = [float(v) for v in values]
    if not vals:
        raise ValueError("dataset BPFP of an empty set")
    return float(np.mean(vals))
