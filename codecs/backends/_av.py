"""In-process video coding through PyAV (FFmpeg): libx265 encoding, HEVC/VVC decoding.

Frames are 2-D uint16 arrays of `bit_depth`-bit luma samples (4:0:0). PyAV is imported
lazily so that the codec registry stays cheap to load.
"""
from __future__ import annotations

import io
from typing import Mapping

import numpy as np

# FFmpeg pixel formats for luma-only frames, by container bit depth.
_GRAY_FORMATS = {8: "gray", 10: "gray10le", 12: "gray12le"}


class AVError(RuntimeError):
    """PyAV/FFmpeg failed to encode or decode (bad options, corrupt bitstream...)."""


def gray_format(bit_depth: int) -> str:
    if bit_depth not in _GRAY_FORMATS:
        raise ValueError(f"no FFmpeg gray pixel format for {bit_depth}-bit samples; supported: {sorted(_GRAY_FORMATS)}")
    return _GRAY_FORMATS[bit_depth]


def encode_frame(frame: np.ndarray, codec: str, muxer: str, bit_depth: int, options: Mapping[str, str]) -> bytes:
    """Encode one gray frame with FFmpeg encoder `codec` into a raw elementary stream (`muxer`)."""
    import av

    pix_fmt = gray_format(bit_depth)
    rows, cols = frame.shape
    arr = np.ascontiguousarray(frame, dtype=np.uint8 if bit_depth == 8 else np.uint16)
    buf = io.BytesIO()
    try:
        with av.open(buf, "w", format=muxer) as out:
            stream = out.add_stream(codec, rate=1)
            stream.width, stream.height, stream.pix_fmt = cols, rows, pix_fmt
            stream.options = dict(options)
            picture = av.VideoFrame.from_ndarray(arr, format=pix_fmt)
            for packet in stream.encode(picture):
                out.mux(packet)
            for packet in stream.encode(None):
                out.mux(packet)
    except av.error.FFmpegError as exc:
        raise AVError(f"{codec} could not encode a {rows}x{cols} {pix_fmt} frame with {dict(options)}: {exc}") from exc
    data = buf.getvalue()
    if not data:
        raise AVError(f"{codec} produced an empty bitstream for a {rows}x{cols} frame")
    return data


def decode_single_frame(data: bytes, demuxer: str) -> np.ndarray:
    """Decode an elementary stream that must hold exactly one picture -> 2-D uint16 array."""
    import av

    try:
        with av.open(io.BytesIO(bytes(data)), format=demuxer) as inp:
            stream = inp.streams.video[0]
            # "explode": a damaged stream is an error, not a silently concealed picture
            stream.codec_context.options = {"err_detect": "explode"}
            frames = [f.to_ndarray() for f in inp.decode(stream)]
    except (av.error.FFmpegError, ValueError, IndexError) as exc:
        raise AVError(f"FFmpeg's {demuxer} decoder rejected the bitstream ({len(data)} bytes): {exc}") from exc
    if len(frames) != 1:
        raise AVError(f"expected exactly one picture in the {demuxer} bitstream, decoded {len(frames)}")
    frame = frames[0]
    if frame.ndim != 2:
        raise AVError(f"decoded {demuxer} picture is not luma-only (array shape {frame.shape})")
    return frame.astype(np.uint16, copy=False)
