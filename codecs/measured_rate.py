"""The rate of a written container: its payload split into bitstream and side information by the
codec that wrote it (given, else the registered codec of the header's name). Above the registry;
the arithmetic itself is fcbench.codecs.chain.rate."""
from __future__ import annotations

from typing import Optional

from fcbench.codecs.chain.container import Header, unpack_container
from fcbench.codecs.chain.rate import PayloadParts, Rate, rate_of
from fcbench.codecs.protocol import Codec
from fcbench.codecs.registry import codec_class


def container_rate(data: bytes, origin_dtype: Optional[str] = None, codec: "Codec | type[Codec] | None" = None) -> Rate:
    """Rate of one container, counted from its bytes. The payload is split by the codec that
    wrote it (`codec`, else the registered codec of the header's name)."""
    header, payload = unpack_container(data)
    return parsed_rate(header, payload, len(data), origin_dtype, codec)


def parsed_rate(header: Header, payload: bytes, total_bytes: int, origin_dtype: Optional[str] = None,
                codec: "Codec | type[Codec] | None" = None) -> Rate:
    """`container_rate` of a container already parsed into (header, payload)."""
    if codec is None:
        try:
            codec = codec_class(header.codec)
        except KeyError as exc:
            raise ValueError(f"cannot split the payload of a {header.codec!r} container: {exc.args[0]}") from None
    parts = codec.payload_parts(payload, header)
    parts.check(len(payload), header.codec)
    if header.side_bytes:  # the chain's outlier side channel travels in the container, not the payload
        parts = PayloadParts(parts.bitstream_bytes, parts.side_bytes + header.side_bytes)
    return rate_of(header, total_bytes, parts, origin_dtype)
