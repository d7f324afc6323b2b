"""Presets: the `fcbench` defaults or the reference chain (`paper`), as data
(`data/presets.yaml`; docs/test-conditions.md §7).

A preset decides the quantization (round to nearest, or the reference's floor), the codec the
source used, the BD-rate anchor, the VTM cfg the source ran, its coding chain (a chain spec,
fcbench.codecs.chain: {} = fixed ranges, no outlier side channel) and how hyperprior training
validates (`validation`); ranges, QPs and lambdas always come from the test conditions. Every result records the name of the preset it was made under.
"""
from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Literal, Optional

import yaml
from pydantic import BaseModel, ConfigDict, field_validator

from fcbench.codecs.conditions import TaskConditions, coding_conditions

DEFAULT = "fcbench"
QUANTIZATIONS = ("round", "legacy")  # to nearest; the reference's floor


class Preset(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str
    quantization: Literal["round", "legacy"]
    codec: Optional[str] = None
    anchor: str
    vtm_cfg_sha256: Optional[str] = None
    chain: dict = {}
    validation: Literal["fcbench", "reference"] = "fcbench"  # hyperprior training's validation procedure

    @field_validator("chain")
    @classmethod
    def _chain(cls, v: dict) -> dict:
        from fcbench.codecs.chain import check

        return check(v)

    def conditions(self, tc: TaskConditions, family: Literal["traditional", "learned"],
                   quantization: Optional[str] = None) -> dict:
        """Codec.encode conditions of a task under this preset; `quantization` ("round" or
        "legacy", the reference's floor) replaces the preset's, None or "" keeps it."""
        return coding_conditions(tc, family, quantization=self.quantization_or(quantization))

    def quantization_or(self, quantization: Optional[str]) -> Literal["round", "legacy"]:
        """`quantization` checked ("round" or "legacy"), or the preset's when None or ""."""
        if not quantization:
            return self.quantization
        if quantization not in QUANTIZATIONS:
            raise ValueError(f"unknown quantization {quantization!r}; choose one of {', '.join(QUANTIZATIONS)} "
                             "('' = the preset's)")
        return "legacy" if quantization == "legacy" else "round"


@lru_cache(maxsize=1)
def load_presets() -> dict[str, Preset]:
    text = resources.files("fcbench.codecs").joinpath("data/presets.yaml").read_text()
    items = [Preset.model_validate(p) for p in yaml.safe_load(text)["presets"]]
    return {p.name: p for p in items}


def preset_names() -> list[str]:
    return list(load_presets())


def get_preset(name: Optional[str] = None) -> Preset:
    """The preset called `name` (None: the default); KeyError names the known ones."""
    presets = load_presets()
    key = DEFAULT if name is None else name
    if key not in presets:
        raise KeyError(f"unknown preset {key!r}; known: {', '.join(presets)}")
    return presets[key]
