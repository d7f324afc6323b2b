"""KFP component `code_traditional`: a traditional codec (vtm, vvenc, x265, ... chosen by parameter;
the paper's "VTM encode" stage) codes the feature set at one rate point (a QP; AV1: a CRF) ->
reconstructed feature set, bitstreams and rate results.

The codec identity hash (name, version, binary and cfg sha256, options) is an explicit input and
is checked against the codec found in the image, so KFP caching never reuses a result made by
another binary or cfg.
"""
from kfp.dsl import Dataset, Input, Metrics, Output

from fcbench.components.stages import container_images

SUMMARY_METRICS = ("bpfp", "side_bpfp", "container_bpfp", "ebpfp", "mse", "psnr_q", "enc_s", "dec_s")


def encode_decode(features_dir: str, codec: str, codec_options: dict, codec_identity_hash: str,
                  rate_point: float, conditions: str, recon_dir: str, bitstreams_dir: str,
                  results_path: str, model: str = "", task: str = "", storage_uri: str = "", label: str = "",
                  preset: str = "") -> dict:
    """Plain-function body of the component; with a `storage_uri` the reconstruction, bitstreams
    and results are also published under <model>/<task>/<label>/<unit><rate point>/ there
    (qp32; AV1: crf33; label: the codec and its chain, e.g. x265+side; default the codec name)."""
    from fcbench.codecs.chain import named
    from fcbench.codecs.registry import codec_class
    from fcbench.components.coding import code_features
    from fcbench.components.stages.context import stage_context
    from fcbench.components.stages.params import parse_json, restore_codec_options, restore_rate_point
    from fcbench.components.storage.publish import publish_coding

    with stage_context("code_traditional", codec=codec, rate_point=rate_point):
        point = restore_rate_point(rate_point, integer=True)  # KFP hands loop items' ints back as floats
        options = restore_codec_options(codec, dict(codec_options or {}))
        summary = code_features(features_dir, codec, options, codec_identity_hash, point,
                                parse_json(conditions, "conditions"), recon_dir, results_path, bitstreams_dir,
                                preset=preset or None, label=label)
        publish_coding(storage_uri, model, task, named(codec, label), point, recon_dir, results_path, bitstreams_dir,
                       rate_unit=codec_class(codec).rate_unit)
        return summary


@container_images.component("codec")
def code_traditional(features: Input[Dataset], codec: str, codec_options: dict, codec_identity_hash: str,
                     rate_point: float, conditions: str, recon: Output[Dataset], bitstreams: Output[Dataset],
                     results: Output[Dataset], metrics: Output[Metrics], model: str = "", task: str = "",
                     storage_uri: str = "", label: str = "", preset: str = ""):
    """Encode + decode every sample at one rate point (QP, CRF) with a traditional codec."""
    from fcbench.components.report_html import point_metric_names
    from fcbench.components.stages.code_traditional import SUMMARY_METRICS, encode_decode
    from fcbench.components.stages.params import log_metrics

    summary = encode_decode(features.path, codec, codec_options, codec_identity_hash, rate_point,
                            conditions, recon.path, bitstreams.path, results.path, model, task, storage_uri, label,
                            preset)
    recon.metadata.update({"codec": codec, "rate_point": rate_point, "identity_hash": codec_identity_hash})
    from fcbench.codecs.chain import named
    from fcbench.codecs.registry import codec_class

    log_metrics(metrics, point_metric_names(named(codec, label), rate_point, codec_class(codec).rate_unit,
                                            {k: summary.get(k) for k in SUMMARY_METRICS}))
