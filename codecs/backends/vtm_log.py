"""Parsing VTM / VVenC encoder and decoder logs: tool version and per-picture bits.

Encoder picture lines look like (VTM 23.13, then VVenC 1.14.0: no LId, the QP followed by more
fields; both as found in the real logs of tests/fixtures)
  POC    0 LId:  0 TId: 0 ( IDR_N_LP, I-SLICE, QP 32 )      28552 bits [Y 31.2765 dB ...]
  POC     0 TId: 0 (  IDR_N_LP, I-SLICE, QP 32, TF 0)      31008 bits [Y 31.2248 dB ...]
and the version banners like `VVCSoftware: VTM Encoder Version 23.13 [...]`,
`vvencFFapp: VVenC, the Fraunhofer H.266/VVC Encoder, version 1.14.0 [...]` (encoder log) and
`vvencFFapp version 1.14.0` (`vvencFFapp --version`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

_VERSION = re.compile(r"VVCSoftware: VTM (Encoder|Decoder) Version (\S+)")
_VVENC_VERSION = re.compile(r"(?:^vvencFFapp version|Fraunhofer H\.266/VVC Encoder, version) (\d\S*)", re.MULTILINE)
_PICTURE = re.compile(
    r"^POC\s+(?P<poc>-?\d+)\s.*?\(\s*(?P<type>[A-Z_]+),\s*(?P<slice>[A-Z]-SLICE),\s*QP\s+(?P<qp>-?\d+)\s*(?:,[^)]*)?\)"
    r"\s+(?P<bits>\d+)\s+bits",
    re.MULTILINE,
)
_DECODED = re.compile(r"^POC\s+(?P<poc>-?\d+)\s.*?\(\s*[A-Z_]+,\s*[A-Z]-SLICE,\s*QP\s+(?P<qp>-?\d+)\s*(?:,[^)]*)?\)",
                      re.MULTILINE)


class LogError(ValueError):
    """A codec log that lacks what fcbench must check (version, picture lines)."""


@dataclass(frozen=True)
class Picture:
    poc: int
    nal_type: str
    slice_type: str
    qp: int
    bits: int


@dataclass(frozen=True)
class EncoderLog:
    version: Optional[str]
    pictures: tuple[Picture, ...]

    @property
    def total_bits(self) -> int:
        return sum(p.bits for p in self.pictures)


def parse_version(log: str) -> Optional[str]:
    """Tool version from a VTM or VVenC banner, None if the log has none."""
    match = _VERSION.search(log) or _VVENC_VERSION.search(log)
    return match.group(match.lastindex or 1) if match else None


def parse_encoder_log(log: str) -> EncoderLog:
    pictures = tuple(
        Picture(int(m["poc"]), m["type"], m["slice"], int(m["qp"]), int(m["bits"])) for m in _PICTURE.finditer(log)
    )
    if not pictures:
        raise LogError("encoder log has no 'POC ... bits' picture line")
    return EncoderLog(parse_version(log), pictures)


def parse_decoder_log(log: str) -> tuple[Optional[str], list[int]]:
    """(version, QP of each decoded picture)."""
    qps = [int(m["qp"]) for m in _DECODED.finditer(log)]
    return parse_version(log), qps
