"""Chain options: the outlier side channel and fitted ranges as one small spec that CLI
commands, pipeline codec entries and reports share.

A chain spec is a dict of (all optional):

    outliers      true: send values outside the range in the side channel (default false)
    outlier_bits  precision of the outlier values in bits (default: the frame's bit depth)
    outlier_fill  what the frame codec gets at outlier positions: "median" (default) or "clip"
    ranges        a fitted range table (fcbench.codecs.chain.fitted_ranges JSON, a local path)
                  replacing the test conditions' fixed range

{} is the paper's chain. `apply` merges a spec into coding conditions, `label` names the
chain after its codec ("x265+side", "x265+fitted+side"), `describe` gives what a report or an
MLflow run records about the chain actually used (from the conditions).
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Optional

from fcbench.codecs.chain import fitted_ranges
from fcbench.codecs.common.names import UnsafeNameError, check_name

SPEC_KEYS = ("outliers", "outlier_bits", "outlier_fill", "ranges")
SIDE_KEYS = ("outliers", "outlier_bits", "outlier_fill")


def check(spec: Optional[dict]) -> dict:
    spec = dict(spec or {})
    unknown = sorted(set(spec) - set(SPEC_KEYS))
    if unknown:
        raise ValueError(f"unknown chain option(s) {unknown}; allowed: {list(SPEC_KEYS)}")
    if not spec.get("outliers") and any(k in spec for k in ("outlier_bits", "outlier_fill")):
        raise ValueError("outlier_bits/outlier_fill need outliers: true")
    return spec


def apply(conditions: dict, spec: Optional[dict]) -> dict:
    """Coding conditions with the chain spec merged in (a range table replaces low/high)."""
    spec = check(spec)
    out = dict(conditions)
    if spec.get("ranges"):
        table = fitted_ranges.load(spec["ranges"])
        out.update(table.conditions())
    out.update({k: spec[k] for k in SIDE_KEYS if k in spec})
    return out


def label(codec: str, spec: Optional[dict]) -> str:
    """The codec's name plus the chain: x265, x265+side, x265+fitted, x265+fitted+side/6b/clip."""
    spec = check(spec)
    name = codec + ("+fitted" if spec.get("ranges") else "")
    if spec.get("outliers"):
        name += "+side"
        if spec.get("outlier_bits") is not None:
            name += f"/{int(spec['outlier_bits'])}b"
        if spec.get("outlier_fill", "median") != "median":
            name += f"/{spec['outlier_fill']}"
    return name


def named(codec: str, label: Optional[str]) -> str:
    """The name results are reported under: the codec-and-chain label when there is one (x265+side),
    else the codec. Every layer asks here instead of writing `label or codec`."""
    return label or codec


def folder(name: str, error: type[Exception] = UnsafeNameError) -> str:
    """A codec-and-chain name (a `label`) as one safe folder name: x265+side/6b -> x265+side-6b
    (sweep folders and storage keys alike); `error` is raised for a name that stays unsafe."""
    return check_name(name.replace("/", "-"), "codec label", error)


def recorded_label(meta: dict) -> Optional[str]:
    """The codec and its chain a reconstructed set's manifest names (sets written before chains
    had labels: the codec alone); None for a set no codec made."""
    codec = meta.get("codec")
    return named(codec, meta.get("label")) if codec else meta.get("label")


def _ranges_text(conditions: dict) -> str:
    low, high = conditions.get("low"), conditions.get("high")
    if conditions.get("truncate") is False:
        return "none (nothing truncated)"
    if low is None:
        return "feature min/max"
    if high is None:
        raise ValueError("coding conditions give a low end of the range but no high end")
    if not isinstance(low, list):
        return f"[{float(low):g}, {float(high):g}]"
    digest = hashlib.sha256(json.dumps([low, high]).encode()).hexdigest()[:12]
    return f"{len(low)} ranges on axis {conditions.get('range_axis', 1)} (sha256 {digest})"


def describe(conditions: dict) -> dict[str, Any]:
    """The chain options of coding conditions, flat, for report tables and MLflow params."""
    side = bool(conditions.get("outliers", False))
    out: dict[str, Any] = {"chain.ranges": _ranges_text(conditions), "chain.outliers": side}
    if side:
        out["chain.outlier_bits"] = conditions.get("outlier_bits") or conditions.get("bit_depth", 10)
        out["chain.outlier_fill"] = conditions.get("outlier_fill", "median")
    return out
