"""The ONE place that names the container images the KFP components run in.

Two runtime families (images/Dockerfile.codec, images/Dockerfile.gpu):
  codec: CPU image with fcbench, PyAV (x265, HEVC/VVC decoders) and the user's VTM/VVenC build;
  gpu:   CUDA torch image with fcbench and the model extras (extraction, training, evaluation).

Configuration: the `images` settings (fcbench.codecs.common.settings, docs/settings.md), read when the
component modules are imported (KFP fixes `base_image` at decoration time, so `fcbench compile`
sets them before importing pipelines): FCBENCH_CODEC_IMAGE / FCBENCH_GPU_IMAGE (full references,
win over everything else, e.g. registry.example/fcbench-codec@sha256:...), else
FCBENCH_IMAGE_REGISTRY (default ghcr.io/fcbench) and FCBENCH_IMAGE_TAG (default: the fcbench
package version).
A digest pins an image immutably; tags are fine for development. Components run with
`install_kfp_package=False`, so both images must contain kfp (pinned in pyproject.toml).
"""
from __future__ import annotations

import re
from importlib import metadata
from typing import Any, Callable, Literal

from fcbench.codecs.common import settings

Family = Literal["codec", "gpu"]
FAMILIES: tuple[Family, ...] = ("codec", "gpu")
DEFAULT_REGISTRY: str = settings.IMAGE_REGISTRY.default
_FULL_REF = {"codec": settings.CODEC_IMAGE, "gpu": settings.GPU_IMAGE}
# name[:tag][@sha256:<64 hex>] with an optional registry host/path; no spaces, no empty parts.
_REF = re.compile(r"^[a-z0-9]+([._/:-][a-z0-9]+)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


class ImageConfigError(ValueError):
    """An image setting in the environment is not a valid image reference."""


def default_tag() -> str:
    """The installed fcbench version: images are built per release (images/ bakes it in)."""
    try:
        return metadata.version("fcbench")
    except metadata.PackageNotFoundError:  # running from a bare source tree
        return "dev"


def image(family: Family) -> str:
    """The image reference for a runtime family, from the environment or the defaults."""
    if family not in FAMILIES:
        raise ValueError(f"unknown image family {family!r}; choose one of {FAMILIES}")
    full_setting = _FULL_REF[family]
    full = full_setting.get()
    if full:
        if not _REF.match(full):
            raise ImageConfigError(f"{full_setting.name}={full!r} is not an image reference (registry/name:tag or name@sha256:...)")
        return full
    registry = settings.IMAGE_REGISTRY.get().rstrip("/") or DEFAULT_REGISTRY
    tag = settings.IMAGE_TAG.get() or default_tag()
    if not _TAG.match(tag):
        raise ImageConfigError(f"FCBENCH_IMAGE_TAG={tag!r} is not a valid image tag")
    ref = f"{registry}/fcbench-{family}:{tag}"
    if not _REF.match(ref):
        raise ImageConfigError(f"FCBENCH_IMAGE_REGISTRY={registry!r} gives an invalid image reference {ref!r}")
    return ref


def codec_image() -> str:
    """CPU image: truncate/quantize, traditional codecs, hyperprior inference, small evaluations."""
    return image("codec")


def gpu_image() -> str:
    """GPU torch image: extraction, hyperprior training, evaluation of the big models."""
    return image("gpu")


def component(family: Family) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a KFP lightweight component that runs in the image of `family`.

    `install_kfp_package=False`: the images contain kfp. Inside a running component KFP sets
    _KFP_RUNTIME=true and kfp.dsl has no decorators; the component bodies import their own
    module for its plain functions, so there the decorator leaves the function as it is. A
    component is called with its inputs alone (KFP makes the outputs): typed as any callable.
    """
    if settings.KFP_RUNTIME.get():
        return lambda func: func
    from kfp import dsl

    return dsl.component(base_image=image(family), install_kfp_package=False)
