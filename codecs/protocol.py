"""The one codec protocol (docs/architecture.md, "Codec protocol").

A codec codes one feature tensor at a rate point into a self-describing container and back.
The shared chain lives here, once: truncate -> quantize (uniform / legacy / nonlinear) or
min-max normalise -> pack -> [frame codec] -> container, with the optional outlier side channel
(fcbench.codecs.chain.outliers: values outside the range sent apart) and ranges along any axis
(fcbench.codecs.chain.fitted_ranges fits them). Backends implement only
`encode_frame`/`decode_frame` on the packed 2-D frame and say which frame they take.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal, Optional, Sequence, Union

import numpy as np

from fcbench.codecs.chain import nonlinear, outliers, transforms
from fcbench.codecs.chain.container import DTYPES, ContainerError, Header, compact_ranges, pack_container, unpack_container
from fcbench.codecs.chain.packing import LAYOUTS, frame_size, pack, unpack
from fcbench.codecs.chain.rate import PayloadParts
from fcbench.codecs.common.hashing import sha256_file
from fcbench.codecs.common.types import RatePoint

# What a codec is handed: "integer" frames of bit_depth-bit samples (block codecs), "unit" frames
# normalised to [0, 1] (learned), or the "tensor" itself, float32 (N, C, H, W), untruncated and
# unquantized, for codecs that bring their own transform and quantizer (klt).
FrameKind = Literal["integer", "unit", "tensor"]
QuantKind = Literal["round", "legacy", "nonlinear"]


def file_sha256(path: Union[str, Path, None]) -> Optional[str]:
    """sha256 of a file (binary or cfg) for codec identities and cache keys; None if no file."""
    return None if path is None else sha256_file(path)


@dataclass(frozen=True)
class Conditions:
    """How a feature is turned into a frame (docs/test-conditions.md §3).

    low/high: truncation (and quantization) range, scalar or per channel along `range_axis`
    (1 = the C index, as the test conditions' per-layer dpt ranges; 3 = the hidden channel of
    token layouts, as fitted ranges). None: use the feature's own min/max, without truncation.
    truncate=False keeps the range for quantization but skips the clip (the reference's
    "truncation off"). outliers=True sends the values outside the range in the side channel,
    `outlier_bits` precise (default: bit_depth), and hands the frame codec the channel median
    at those positions (`outlier_fill="clip"`: the truncated value); off is the paper's chain.
    """

    low: Union[float, Sequence[float], None] = None
    high: Union[float, Sequence[float], None] = None
    truncate: bool = True
    bit_depth: int = 10
    layout: str = "generic"
    quant: QuantKind = "round"
    points: Optional[np.ndarray] = None
    nonlinear_mode: nonlinear.EncodeMode = "nearest"
    range_axis: int = 1
    outliers: bool = False
    outlier_bits: Optional[int] = None
    outlier_fill: str = "median"

    def __post_init__(self) -> None:
        # Everything that does not depend on the feature is checked here, once, so a sweep with
        # bad conditions fails before any job runs (fcbench.codecs.sweeps.run).
        if (self.low is None) != (self.high is None):
            raise ValueError("give both low and high, or neither")
        if self.low is not None and self.high is not None:
            transforms.check_ranges(self.low, self.high)
        transforms.check_bit_depth(self.bit_depth)
        if self.layout not in LAYOUTS:
            raise ValueError(f"unknown packing layout {self.layout!r}; choose one of {LAYOUTS}")
        if not isinstance(self.truncate, bool):
            raise ValueError(f"truncate is on or off (true/false), got {self.truncate!r}")
        if self.quant not in ("round", "legacy", "nonlinear"):
            raise ValueError(f"unknown quantization {self.quant!r}; choose round, legacy or nonlinear")
        if self.quant == "nonlinear" and self.points is None:
            raise ValueError("nonlinear quantization needs fitted points (fcbench.codecs.chain.nonlinear.fit_points)")
        if self.range_axis not in (1, 2, 3) or isinstance(self.range_axis, bool):
            raise ValueError(f"range_axis must be 1, 2 or 3 of an (N, C, H, W) tensor, got {self.range_axis!r}")
        if not isinstance(self.outliers, bool):
            raise ValueError(f"outliers is on or off (true/false), got {self.outliers!r}")
        if self.outliers and (self.low is None or not self.truncate):
            raise ValueError("the outlier side channel needs a truncation range (low/high) with truncation on")
        if self.outlier_bits is not None:
            outliers.check_bits(self.outlier_bits)
        if self.outlier_fill not in outliers.FILLS:
            raise ValueError(f"unknown outlier_fill {self.outlier_fill!r}; choose one of {outliers.FILLS}")

    def check_shape(self, shape: Sequence[int]) -> None:
        """ValueError unless a feature of `shape` can be coded under these conditions (range
        count along `range_axis`, packing layout): checked from manifests before a sweep runs."""
        frame_size(shape, self.layout)
        if self.low is not None and self.high is not None:
            transforms.channel_ranges(self.low, self.high, shape, self.range_axis)

    @property
    def side_channel_bits(self) -> int:
        """Precision of the outlier values (the frame's bit depth unless stated)."""
        return self.bit_depth if self.outlier_bits is None else int(self.outlier_bits)


def _origin_dtype(x: np.ndarray) -> str:
    name = x.dtype.name
    if name not in DTYPES:
        raise TypeError(f"unsupported feature dtype {name}; supported: {DTYPES}")
    return name


def _as_feature(feature: np.ndarray) -> np.ndarray:
    x = np.asarray(feature)
    if x.ndim != 4:
        raise ValueError(f"a feature must be an (N, C, H, W) tensor, got shape {x.shape}")
    if x.size == 0:
        raise ValueError(f"empty feature of shape {x.shape}")
    transforms.to_float32(x)  # NaN/Inf, or values beyond float32, named here
    return x


class Codec(abc.ABC):
    """Base of every codec. Subclasses set `frame_kind` and implement the frame methods."""

    name: ClassVar[str] = "abstract"
    frame_kind: ClassVar[FrameKind] = "integer"
    # What a rate point is: it names folders and storage keys (qp22, crf35, lambda0.01), grids
    # and report rows. "qp": a VTM-style QP, the unit of the test conditions' traditional grid.
    rate_unit: ClassVar[str] = "qp"
    # Options that name files (a table, a checkpoint): callers stage s3:// URIs to local files first.
    file_options: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def rate_points_for_qps(cls, qps: Sequence[int]) -> list[RatePoint]:
        """This codec's rate points for a grid given in VTM QPs (the test conditions' and the
        pipelines' `qps`): the QPs themselves for a QP codec; a codec with another rate unit
        maps them to its own (or refuses, asking for its rate points explicitly)."""
        if cls.rate_unit == "qp":
            return list(qps)
        raise ValueError(f"codec {cls.name!r} takes {cls.rate_unit} rate points, not VTM QPs: give them explicitly")

    # ---- what a backend implements -------------------------------------------------------
    @property
    @abc.abstractmethod
    def identity(self) -> dict:
        """name, version, binary_sha256, cfg_sha256 (None where not applicable) and options."""

    @abc.abstractmethod
    def encode_frame(self, frame: np.ndarray, rate_point: RatePoint, bit_depth: int) -> bytes:
        """Code a packed 2-D frame (uint16 samples < 2^bit_depth, or float32 in [0,1]) -> payload."""

    @abc.abstractmethod
    def decode_frame(self, payload: bytes, header: Header) -> np.ndarray:
        """Payload -> 2-D frame of header.frame size (uint16, or float32 in [0,1])."""

    def check_rate_point(self, rate_point: RatePoint) -> None:
        """Raise ValueError for a rate point this codec cannot use (default: any)."""

    @classmethod
    def payload_parts(cls, payload: bytes, header: Header) -> PayloadParts:
        """What of a payload the paper's BPFP counts (fcbench.codecs.chain.rate). Default: the whole
        payload is the codec's bitstream, as for any frame codec whose payload is the stream
        its encoder wrote. A codec whose payload carries fields of its own, or coded side
        information, overrides this; it needs no instance (rates are counted from files)."""
        return PayloadParts(bitstream_bytes=len(payload))

    # ---- the shared chain ----------------------------------------------------------------
    def to_frame(self, feature: np.ndarray, rate_point: RatePoint, conditions: Conditions) -> tuple[Header, np.ndarray]:
        """Truncate, quantize/normalise and pack -> (header, frame); a "tensor" codec gets the
        feature itself as float32 (see _tensor_frame)."""
        self.check_rate_point(rate_point)
        x = _as_feature(feature)
        dtype = _origin_dtype(x)
        c = conditions
        if self.frame_kind == "tensor":
            return self._tensor_frame(x, rate_point, c)
        if c.low is None:
            own = transforms.own_range(x.astype(np.float32))
            transforms.check_ranges(*own, what="the feature's own value range (no range given)")
            lo_arr: tuple[float, ...] = (own[0],)
            hi_arr: tuple[float, ...] = (own[1],)
            truncated = False
        else:
            lo_arr = tuple(float(v) for v in np.atleast_1d(np.asarray(c.low, dtype=np.float64)))
            hi_arr = tuple(float(v) for v in np.atleast_1d(np.asarray(c.high, dtype=np.float64)))
            lo_arr, hi_arr = compact_ranges(lo_arr, hi_arr)  # long tables travel as float32: use those
            truncated = c.truncate
        low, high = _range_args(lo_arr, hi_arr)
        axis = c.range_axis
        xt = transforms.truncate(x, low, high, axis) if truncated else x.astype(np.float32)
        side = None
        if c.outliers:
            pos_axis = outliers.position_axis(c.layout, axis, len(lo_arr) > 1)
            found = outliers.find(x, low, high, axis, pos_axis, c.side_channel_bits)
            if len(found):  # nothing outside: no section, the container is the paper chain's
                side = outliers.encode(found, x.shape)
                xt = outliers.fill(xt, found, c.outlier_fill)
        points = None
        if self.frame_kind == "unit":
            q = transforms.normalize(xt, low, high, axis)
            transform, bit_depth = "normalize", 0
        elif c.quant == "nonlinear":
            points = np.asarray(c.points, dtype=np.float32)
            q = nonlinear.encode(xt, points, c.nonlinear_mode)
            transform, bit_depth = "nonlinear", c.bit_depth
            if points.shape[-1] != 2**bit_depth:
                raise ValueError(f"{points.shape[-1]} quantization points for {bit_depth}-bit samples")
        else:
            if c.quant == "legacy" and x.dtype == np.float16 and side is None:
                # the reference's float16 arithmetic, bit for bit (its truncation included)
                q = transforms.quantize_legacy_float16(x, low, high, c.bit_depth, truncated, axis)
            else:
                q = transforms.quantize(xt, low, high, c.bit_depth, mode=c.quant, axis=axis)
            transform = "uniform" if c.quant == "round" else "legacy"
            bit_depth = c.bit_depth
        header = Header(
            codec=self.name,
            rate_point=rate_point,
            shape=tuple(int(s) for s in x.shape),
            dtype=dtype,
            layout=c.layout,
            frame=frame_size(x.shape, c.layout),
            transform=transform,
            bit_depth=bit_depth,
            low=lo_arr,
            high=hi_arr,
            truncated=truncated,
            points=points,
            range_axis=axis,
            outliers=side,
        )
        return header, pack(q, c.layout)

    def _tensor_frame(self, x: np.ndarray, rate_point: RatePoint, c: Conditions) -> tuple[Header, np.ndarray]:
        """The feature as the frame of a "tensor" codec: nothing truncated or quantized (the
        codec's own quantizer decides the distortion; the rate point is its), the range of the
        conditions (else the feature's own) recorded for reference only."""
        if c.outliers:
            raise ValueError(f"{self.name} codes every value itself: the outlier side channel does not apply")
        if c.quant == "nonlinear":
            raise ValueError(f"{self.name} brings its own quantizer: nonlinear quantization does not apply")
        if c.low is None:
            own_low, own_high = transforms.own_range(x.astype(np.float32))
            lo_arr: tuple[float, ...] = (own_low,)
            hi_arr: tuple[float, ...] = (own_high,)
        else:
            lo_arr = tuple(float(v) for v in np.atleast_1d(np.asarray(c.low, dtype=np.float64)))
            hi_arr = tuple(float(v) for v in np.atleast_1d(np.asarray(c.high, dtype=np.float64)))
            lo_arr, hi_arr = compact_ranges(lo_arr, hi_arr)
        header = Header(codec=self.name, rate_point=rate_point, shape=tuple(int(s) for s in x.shape), dtype=_origin_dtype(x),
                        layout=c.layout, frame=frame_size(x.shape, c.layout), transform="none", bit_depth=0,
                        low=lo_arr, high=hi_arr, truncated=False, range_axis=c.range_axis)
        return header, np.ascontiguousarray(x, dtype=np.float32)

    def from_frame(self, header: Header, frame: np.ndarray) -> np.ndarray:
        """Unpack and dequantize/denormalise a decoded frame -> feature in the original dtype."""
        if header.transform == "none":  # a "tensor" codec's output is the feature itself
            return cast_to(np.asarray(frame, dtype=np.float32), header.dtype)
        q = unpack(frame, header.shape, header.layout)
        low, high = header.range
        axis = header.range_axis
        if header.transform == "normalize":
            x = transforms.denormalize(np.clip(q, 0.0, 1.0), low, high, axis)
        elif header.transform == "nonlinear":
            if header.points is None:
                raise ContainerError("a nonlinear container without its quantization points")
            x = nonlinear.decode(q, header.points)
        else:
            mode: Literal["round", "legacy"] = "round" if header.transform == "uniform" else "legacy"
            x = transforms.dequantize(q, low, high, header.bit_depth, mode=mode, axis=axis)
        if header.outliers is not None:
            side = outliers.decode(header.outliers, header.shape)
            x = outliers.apply(np.array(x, dtype=np.float32), side, low, high, axis)
        return cast_to(x, header.dtype)

    def encode(self, feature: np.ndarray, rate_point: RatePoint, **conditions) -> bytes:
        """Feature (N, C, H, W) at a rate point -> container bytes (rate: fcbench.codecs.chain.rate)."""
        return self.encode_keeping_frame(feature, rate_point, **conditions)[0]

    def encode_keeping_frame(self, feature: np.ndarray, rate_point: RatePoint, **conditions) -> tuple[bytes, np.ndarray]:
        """(container bytes, the packed frame that was coded): for callers that measure the
        frame's distortion without computing it twice."""
        header, frame = self.to_frame(feature, rate_point, Conditions(**conditions))
        payload = self.encode_frame(frame, rate_point, header.bit_depth)
        return pack_container(header, payload), frame

    def decode_to_frame(self, data: bytes) -> tuple[Header, np.ndarray]:
        """Container -> (header, decoded frame), checking that the container is ours."""
        header, payload = unpack_container(data)
        return header, self.decode_payload(header, payload)

    def decode_payload(self, header: Header, payload: bytes) -> np.ndarray:
        """The decoded frame of an already parsed container (header, payload)."""
        if header.codec != self.name:
            raise ContainerError(f"container was written by codec {header.codec!r}, not {self.name!r}")
        frame = self.decode_frame(payload, header)
        expected = header.shape if header.transform == "none" else header.frame
        if tuple(frame.shape) != tuple(expected):
            raise ContainerError(
                f"{self.name} decoded a {frame.shape} frame, the container says {tuple(expected)}"
            )
        return frame

    def decode(self, data: bytes) -> np.ndarray:
        """Container bytes -> reconstructed feature (original shape and dtype)."""
        header, frame = self.decode_to_frame(data)
        return self.from_frame(header, frame)


def _range_args(lo: tuple[float, ...], hi: tuple[float, ...]):
    """Header range tuples -> the scalar-or-list form the transforms take."""
    return (lo[0], hi[0]) if len(lo) == 1 else (list(lo), list(hi))


def cast_to(x: np.ndarray, dtype: str) -> np.ndarray:
    """Cast a float32 reconstruction to the original dtype (bfloat16 stays float32: numpy has
    no bfloat16; values are rounded to bf16 precision)."""
    if dtype == "bfloat16":
        bits = x.astype(np.float32).view(np.uint32)
        rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000).astype(np.uint32)
        return rounded.view(np.float32)
    return x.astype(dtype)
