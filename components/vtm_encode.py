"""KFP component `vtm_encode`: a traditional codec (vtm, vvenc, x265, ... chosen by parameter)
codes the feature set at one QP -> reconstructed feature set, bitstreams and rate results.

The codec identity hash (name, version, binary and cfg sha256, options) is an explicit input and
is checked against the codec found in the image, so KFP caching never reuses a result made by
another binary or cfg.
"""
from kfp.dsl import Dataset, Input, Metrics, Output

from fcbench.components import images

SUMMARY_METRICS = ("bpfp", "side_bpfp", "container_bpfp", "ebpfp", "mse", "psnr_q", "enc_s", "dec_s")


def encode_decode(features_dir: str, codec: str, codec_options: dict, codec_identity: str,
                  rate_point: float, conditions: str, recon_dir: str, bitstreams_dir: str,
                  results_path: str, model: str = "", task: str = "", storage_uri: str = "") -> dict:
    """Plain-function body of the component; with a `storage_uri` the reconstruction, bitstreams
    and results are also published under <model>/<task>/<codec>/qp<QP>/ there."""
    from fcbench.components.coding import code_features
    from fcbench.components.publish import publish_coding
    from fcbench.components.runtime import parse_json, rate_point as as_rate_point, stage_context

    with stage_context("vtm_encode", codec=codec, rate_point=rate_point):
        qp = as_rate_point(rate_point, integer=True)
        summary = code_features(features_dir, codec, dict(codec_options or {}), codec_identity, qp,
                                parse_json(conditions, "conditions"), recon_dir, results_path, bitstreams_dir)
        publish_coding(storage_uri, model, task, codec, qp, recon_dir, results_path, bitstreams_dir)
        return summary


@images.component("codec")
def vtm_encode(features: Input[Dataset], codec: str, codec_options: dict, codec_identity: str,
               rate_point: float, conditions: str, recon: Output[Dataset], bitstreams: Output[Dataset],
               results: Output[Dataset], metrics: Output[Metrics], model: str = "", task: str = "",
               storage_uri: str = ""):
    """Encode + decode every sample at one QP with a traditional codec."""
    from fcbench.components.runtime import log_metrics
    from fcbench.components.vtm_encode import SUMMARY_METRICS, encode_decode

    summary = encode_decode(features.path, codec, codec_options, codec_identity, rate_point,
                            conditions, recon.path, bitstreams.path, results.path, model, task, storage_uri)
    recon.metadata.update({"codec": codec, "rate_point": rate_point, "identity": codec_identity})
    log_metrics(metrics, summary, SUMMARY_METRICS)
