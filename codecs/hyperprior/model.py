"""Learned architectures by name (CompressAI models adapted to 1-channel feature frames).

A model is fully described by a `ModelConfig` {arch, N, M, in_channels}; its canonical JSON is
hashed into the codec identity. New CompressAI families are added by registering a builder.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any, Callable

import torch.nn as nn

from fcbench.codecs.hyperprior import lean_compressai

# Only imported when a model is built. CompressAI without the modules that pull torch_geometric in
# (about 4.5 s of CPU per process; lean_compressai says how, and falls back to a plain import).
lean_compressai.load()
from compressai.models.google import MeanScaleHyperprior, ScaleHyperprior  # noqa: E402
from compressai.models.utils import conv, deconv  # noqa: E402

DEFAULT_ARCH = "bmshj2018-hyperprior"


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a learned codec's network (not its weights)."""

    arch: str = DEFAULT_ARCH
    N: int = 128
    M: int = 192
    in_channels: int = 1

    def __post_init__(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise ValueError(f"unknown learned architecture {self.arch!r}; known: {sorted(ARCHITECTURES)}")
        for name in ("N", "M", "in_channels"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"model config {name} must be a positive integer, got {value!r}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        unknown = set(data) - {"arch", "N", "M", "in_channels"}
        if unknown:
            raise ValueError(f"unknown model config keys {sorted(unknown)}")
        return cls(**data)

    def canonical_json(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))

    def sha256(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()


def _with_channels(model: nn.Module, cfg: ModelConfig) -> nn.Module:
    """CompressAI's image models take 3 channels; swap the first analysis conv and the last
    synthesis deconv for `in_channels` ones (same kernel/stride as the originals)."""
    model.g_a[0] = conv(cfg.in_channels, cfg.N)
    model.g_s[-1] = deconv(cfg.N, cfg.in_channels)
    return model


def _scale_hyperprior(cfg: ModelConfig) -> nn.Module:
    return _with_channels(ScaleHyperprior(cfg.N, cfg.M), cfg)


def _mean_scale_hyperprior(cfg: ModelConfig) -> nn.Module:
    return _with_channels(MeanScaleHyperprior(cfg.N, cfg.M), cfg)


# name -> builder. Every builder returns a compressai CompressionModel whose compress() gives
# {"strings": [y_strings, z_strings], "shape": z_shape} and whose decompress(strings, shape)
# gives {"x_hat": ...}, with spatial downsampling PAD_MULTIPLE.
ARCHITECTURES: dict[str, Callable[[ModelConfig], nn.Module]] = {
    "bmshj2018-hyperprior": _scale_hyperprior,
    "mbt2018-mean": _mean_scale_hyperprior,
}
PAD_MULTIPLE = 64


def build_model(cfg: ModelConfig) -> nn.Module:
    """A freshly initialised network for `cfg` (seed torch first for reproducible weights)."""
    return ARCHITECTURES[cfg.arch](cfg)


def parameter_groups(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(main parameters, auxiliary entropy-bottleneck quantiles), as CompressAI trains them."""
    main: list[nn.Parameter] = []
    aux: list[nn.Parameter] = []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (aux if name.endswith(".quantiles") else main).append(p)
    return main, aux
