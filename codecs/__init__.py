"""fcbench.codecs: the feature-coding layer (no kfp, mlflow or minio).

Public, stable API:
    truncate, quantize, dequantize, normalize, denormalize      transforms
    pack, unpack, frame_size, LAYOUTS                          packing
    fit_points (+ fcbench.codecs.chain.nonlinear.encode/decode)      nonlinear quantization
    Header, pack_container, unpack_container, ContainerError   the bitstream container
    bpfp, ebpfp, container_rate, dataset_bpfp                  rate from real bytes
    Codec, Conditions, get_codec, codec_names, register        the codec protocol and registry
    FeatureSet                                                 feature-set folders
    load_conditions                                            the test conditions as data
    fcbench.codecs.conformance.check_codec                     the checks every codec (plug-ins too) must pass
"""
from __future__ import annotations

import importlib
from typing import Any

# The public names and the module each lives in: imported on first use (PEP 562), so importing
# one submodule (fcbench.codecs.common.settings, the standard library only) loads nothing else.
_PUBLIC = {
    "load_conditions": "conditions",
    "ContainerError": "chain.container", "Header": "chain.container", "pack_container": "chain.container",
    "unpack_container": "chain.container",
    "FeatureSet": "features.featureset", "FeatureSetError": "features.featureset",
    "fit_points": "chain.nonlinear",
    "LAYOUTS": "chain.packing", "frame_size": "chain.packing", "pack": "chain.packing", "unpack": "chain.packing",
    "Codec": "protocol", "Conditions": "protocol",
    "bpfp": "chain.rate", "dataset_bpfp": "chain.rate", "ebpfp": "chain.rate", "container_rate": "measured_rate",
    "codec_names": "registry", "get_codec": "registry", "register": "registry",
    "dequantize": "chain.transforms", "denormalize": "chain.transforms", "normalize": "chain.transforms", "quantize": "chain.transforms",
    "truncate": "chain.transforms",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        value = getattr(importlib.import_module(f"fcbench.codecs.{_PUBLIC[name]}"), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'fcbench.codecs' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
