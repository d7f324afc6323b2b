"""KFP component `vtm_encode`: a traditional codec (vtm, vvenc, x265, ... chosen by parameter)
codes the feature set at one QP -> reconstructed feature set, bitstreams and rate results.

The codec identity hash (name, version, binary and cfg sha256, options) is an explicit input and
is checked against the codec found in the image, so KFP caching never reuses a result made by
another binary or cfg.
"""
from kfp.dsl import Dataset, Input, Metrics, Output

from fcbench.components import images

SUMMARY_METRICS = ("bpfp", "ebpfp", "mse", "psnr_q", "enc_s", "dec_s")


def encode_decode(features_dir: str, codec: str, codec_options: dict, codec_identity: str,
                  rate_point: float, conditions: str, recon_dir: str, bitstreams_dir: str,
                  results_path: str) -> dict:
    """Plain-function body of the component."""
    from fcbench.components.coding import code_features
    from fcbench.components.runtime import parse_json, rate_point as as_rate_point, stage_context

    with stage_context("vtm_encode", codec=codec, rate_point=rate_point):
        qp = as_rate_point(rate_point, integer=True)
        return code_features(features_dir, codec, dict(codec_options or {}), codec_identity, qp,
                             parse_json(conditions, "conditions"), recon_dir, results_path, bitstreams_dir)


@images.component("codec")
def vtm_encode(features: Input[Dataset], codec: str, codec_options: dict, codec_identity: str,
               rate_point: float, conditions: str, recon: Output[Dataset], bitstreams: Output[Dataset],
               results: Output[Dataset], metrics: Output[Metrics]):
    """Encode + decode every sample at one QP with a traditional codec."""
    from fcbench.components.runtime import log_metrics
    from fcbench.components.vtm_encode import SUMMARY_METRICS, encode_decode

    summary = encode_decode(features.path, codec, codec_options, codec_identity, rate_point,
                            conditions, recon.path, bitstreams.path, results.path)
    recon.metadata.update({"codec": codec, "rate_point": rate_point, "identity": codec_identity})
    log_metrics(metrics, summary, SUMMARY_METRICS)
