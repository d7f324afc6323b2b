"""In-process video coding through PyAV (FFmpeg): libx265 and SVT-AV1 encoding, HEVC/VVC/AV1 decoding.

Frames are 2-D uint16 arrays of `bit_depth`-bit luma samples. Encoders that take 4:0:0 get a
gray picture; those that do not (SVT-AV1) get the frame as the luma plane of a 4:2:0 picture
whose chroma planes are constant mid-grey (they cost almost nothing) and decoders hand back the
luma plane only. PyAV is imported lazily so that the codec registry stays cheap to load.
"""
from __future__ import annotations

import functools
import glob
import io
import os
import re
from pathlib import Path
from typing import Literal, Mapping, Optional

import numpy as np

# FFmpeg pixel formats by container bit depth: luma only, and 4:2:0.
_GRAY_FORMATS = {8: "gray", 10: "gray10le", 12: "gray12le"}
_YUV420_FORMATS = {8: "yuv420p", 10: "yuv420p10le"}
PictureKind = Literal["gray", "yuv420"]


class AVError(RuntimeError):
    """PyAV/FFmpeg failed to encode or decode (bad options, corrupt bitstream...)."""


def gray_format(bit_depth: int) -> str:
    if bit_depth not in _GRAY_FORMATS:
        raise ValueError(f"no FFmpeg gray pixel format for {bit_depth}-bit samples; supported: {sorted(_GRAY_FORMATS)}")
    return _GRAY_FORMATS[bit_depth]


def yuv420_format(bit_depth: int) -> str:
    if bit_depth not in _YUV420_FORMATS:
        raise ValueError(f"no 4:2:0 pixel format for {bit_depth}-bit samples; supported: {sorted(_YUV420_FORMATS)}")
    return _YUV420_FORMATS[bit_depth]


def _plane_samples(arr: np.ndarray, line_size: int, itemsize: int) -> bytes:
    """Rows of `arr` laid out with FFmpeg's line stride (rows padded to `line_size` bytes)."""
    rows, cols = arr.shape
    out = np.zeros((rows, line_size // itemsize), dtype=arr.dtype)
    out[:, :cols] = arr
    return out.tobytes()


def picture(frame: np.ndarray, bit_depth: int, kind: PictureKind = "gray"):
    """An av.VideoFrame holding `frame`: gray, or the luma of 4:2:0 with mid-grey chroma."""
    import av

    arr = np.ascontiguousarray(frame, dtype=np.uint8 if bit_depth == 8 else np.uint16)
    if kind == "gray":
        return av.VideoFrame.from_ndarray(arr, format=gray_format(bit_depth))
    rows, cols = arr.shape
    if rows % 2 or cols % 2:
        raise ValueError(f"a 4:2:0 picture needs even sizes, got {rows}x{cols}")
    pic = av.VideoFrame(cols, rows, yuv420_format(bit_depth))
    grey = np.full((rows // 2, cols // 2), 1 << (bit_depth - 1), dtype=arr.dtype)
    for plane, samples in zip(pic.planes, (arr, grey, grey)):
        plane.update(_plane_samples(samples, plane.line_size, arr.itemsize))
    return pic


def encode_frame(frame: np.ndarray, codec: str, muxer: str, bit_depth: int, options: Mapping[str, str],
                 kind: PictureKind = "gray") -> bytes:
    """Encode one frame with FFmpeg encoder `codec` into a raw elementary stream (`muxer`)."""
    import av

    rows, cols = frame.shape
    pix_fmt = gray_format(bit_depth) if kind == "gray" else yuv420_format(bit_depth)
    buf = io.BytesIO()
    try:
        pic = picture(frame, bit_depth, kind)
        with av.open(buf, "w", format=muxer) as out:
            stream = out.add_stream(codec, rate=1)
            stream.width, stream.height, stream.pix_fmt = cols, rows, pix_fmt
            stream.options = dict(options)
            for packet in stream.encode(pic):
                out.mux(packet)
            for packet in stream.encode(None):
                out.mux(packet)
    except av.error.FFmpegError as exc:
        raise AVError(f"{codec} could not encode a {rows}x{cols} {pix_fmt} frame with {dict(options)}: {exc}") from exc
    data = buf.getvalue()
    if not data:
        raise AVError(f"{codec} produced an empty bitstream for a {rows}x{cols} frame")
    return data


_REJECTED = re.compile(r"(?:Unknown option: |Invalid value for |Error parsing option )([^:\s]+?)(?::|\.\s*$)")


@functools.lru_cache(maxsize=64)
def rejected_parameters(codec: str, muxer: str, option: str, text: str, kind: PictureKind = "gray",
                        extra: tuple = ()) -> dict[str, str]:
    """{parameter: what the encoder said} for the `key=value:...` parameters `text` given as the
    encoder option `option` (x265-params, svtav1-params), from the warnings FFmpeg logs while
    opening `codec` for a small frame. Their wrappers only warn about unknown names and bad values
    and go on without them."""
    import av
    import av.logging

    frame = np.zeros((64, 64), dtype=np.uint16)
    before = av.logging.get_level()
    av.logging.set_level(av.logging.WARNING)
    try:
        with av.logging.Capture(True) as logs:
            try:
                encode_frame(frame, codec, muxer, 10, {option: text, **dict(extra)}, kind=kind)
            except AVError as exc:  # an encoder that refuses to open with them says why in its error
                return {text: str(exc)}
    finally:
        av.logging.set_level(before)
    found = {}
    for _, name, message in logs:
        match = _REJECTED.search(message.strip())
        if name == codec and match:
            found[match.group(1)] = message.strip()
    return found


def luma(frame) -> np.ndarray:
    """The first plane of a decoded av.VideoFrame as a 2-D uint16 array (gray or Y of YUV)."""
    plane = frame.planes[0]
    wide = frame.format.name not in ("gray", "yuv420p")
    samples = np.frombuffer(memoryview(plane), dtype="<u2" if wide else np.uint8)
    return samples.reshape(plane.height, plane.line_size // (2 if wide else 1))[:, : plane.width].astype(np.uint16)


def decode_single_frame(data: bytes, demuxer: str, decoder: Optional[str] = None,
                        kind: PictureKind = "gray") -> np.ndarray:
    """Decode an elementary stream that must hold exactly one picture -> 2-D uint16 array.

    `decoder` names the FFmpeg decoder (default: FFmpeg's choice for the stream); `kind` is the
    picture the encoder was given: gray streams must decode to luma only, of 4:2:0 streams the
    luma plane is returned."""
    import av

    expected = _GRAY_FORMATS if kind == "gray" else _YUV420_FORMATS
    try:
        with av.open(io.BytesIO(bytes(data)), format=demuxer) as inp:
            stream = inp.streams.video[0]
            ctx = av.CodecContext.create(decoder, "r") if decoder else stream.codec_context
            # "explode": a damaged stream is an error, not a silently concealed picture
            ctx.options = {"err_detect": "explode"}
            if decoder:
                ctx.thread_count = 1  # sweeps already run one worker per core
                frames = [f for pkt in inp.demux(stream) if pkt.size for f in ctx.decode(pkt)]
                frames += ctx.decode(None)
            else:
                frames = list(inp.decode(stream))
            formats = [f.format.name for f in frames]
            planes = [luma(f) for f in frames if f.format.name in expected.values()]
    except (av.error.FFmpegError, ValueError, IndexError) as exc:
        raise AVError(f"FFmpeg's {decoder or demuxer} decoder rejected the bitstream ({len(data)} bytes): {exc}") from exc
    if len(frames) != 1:
        raise AVError(f"expected exactly one picture in the {demuxer} bitstream, decoded {len(frames)}")
    if len(planes) != 1:
        raise AVError(f"decoded {demuxer} picture has pixel format {formats[0]}, expected one of "
                      f"{sorted(expected.values())} ({'luma only' if kind == 'gray' else '4:2:0'})")
    return planes[0]


def padded(rows: int, cols: int, multiple: int, minimum: int) -> tuple[int, int]:
    """The picture size an encoder gets for a rows x cols frame: each side rounded up to
    `multiple` and at least `minimum`."""
    return max(minimum, -(-rows // multiple) * multiple), max(minimum, -(-cols // multiple) * multiple)


def pad_edges(frame: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Pad bottom/right by replicating the last row/column (cheap to code, cropped on decode)."""
    r, c = frame.shape
    if (r, c) == (rows, cols):
        return frame
    return np.pad(frame, ((0, rows - r), (0, cols - c)), mode="edge")


def crop(picture: np.ndarray, padded_to: tuple[int, int], rows: int, cols: int, codec: str) -> np.ndarray:
    """The rows x cols frame of a decoded picture that must be `padded_to` in size."""
    if picture.shape != tuple(padded_to):
        raise AVError(f"{codec} stream holds a {picture.shape} picture, expected {tuple(padded_to)} "
                      f"for a {rows}x{cols} frame")
    return picture[:rows, :cols]


@functools.lru_cache(maxsize=8)
def bundled_library(prefix: str) -> Optional[Path]:
    """The shared library `prefix*` bundled with the PyAV wheel (None when PyAV links elsewhere)."""
    import av

    libs = sorted(glob.glob(os.path.join(os.path.dirname(os.path.dirname(av.__file__)), "av.libs", prefix + "*")))
    return Path(libs[0]) if libs else None
