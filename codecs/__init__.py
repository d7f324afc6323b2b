"""fcbench.codecs: the pure feature-coding layer (numpy; no kfp, mlflow or minio).

Public, stable API:
    truncate, quantize, dequantize, normalize, denormalize      transforms
    pack, unpack, frame_size, LAYOUTS                          packing
    fit_points (+ fcbench.codecs.nonlinear.encode/decode)      nonlinear quantization
    Header, pack_container, unpack_container, ContainerError   the bitstream container
    bpfp, ebpfp, container_rate, dataset_bpfp                  rate from real bytes
    Codec, Conditions, get_codec, codec_names, register        the codec protocol and registry
    FeatureSet                                                 feature-set folders
    load_conditions                                            the test conditions as data
    fcbench.codecs.conformance.check_codec                     the checks every codec (plug-ins too) must pass
"""
from fcbench.codecs.conditions import load_conditions
from fcbench.codecs.container import ContainerError, Header, pack_container, unpack_container
from fcbench.codecs.featureset import FeatureSet, FeatureSetError
from fcbench.codecs.nonlinear import fit_points
from fcbench.codecs.packing import LAYOUTS, frame_size, pack, unpack
from fcbench.codecs.protocol import Codec, Conditions
from fcbench.codecs.rate import bpfp, container_rate, dataset_bpfp, ebpfp
from fcbench.codecs.registry import codec_names, get_codec, register
from fcbench.codecs.transforms import dequantize, denormalize, normalize, quantize, truncate

__all__ = [
    "Codec", "Conditions", "ContainerError", "FeatureSet", "FeatureSetError", "Header", "LAYOUTS",
    "bpfp", "codec_names", "container_rate", "dataset_bpfp", "dequantize", "denormalize", "ebpfp",
    "fit_points", "frame_size", "get_codec", "load_conditions", "normalize", "pack",
    "pack_container", "quantize", "register", "truncate", "unpack", "unpack_container",
]
