"""KFP component `hyperprior_infer`: code the feature set with a trained hyperprior (the rate
point is the model's lambda) -> reconstructed feature set and rate results.

The checkpoint arrives as a Model artifact (trained in the pipeline) or as a URI parameter:
a local path, `s3://...` (staged from object storage) or `models:/<name>/<version>` (downloaded
from the MLflow registry of the pipeline's tracking URI). Its sha256 is part of the codec
identity checked here; the artifact or the URI is in KFP's cache key.
"""
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from fcbench.components.stages import container_images


def checkpoint_file(path: str) -> str:
    """The checkpoint inside a Model artifact: the file itself or the one .pt file in a folder."""
    from pathlib import Path

    p = Path(path)
    if p.is_file():
        return str(p)
    found = sorted(p.glob("*.pt")) if p.is_dir() else []
    if len(found) != 1:
        raise FileNotFoundError(f"model artifact {path} should be a checkpoint file or a folder with one .pt file; found {found}")
    return str(found[0])


def infer(features_dir: str, checkpoint_path: str, rate_point: float, conditions: str, device: str,
          recon_dir: str, bitstreams_dir: str, results_path: str, expected_identity_hash: str = "",
          model: str = "", task: str = "", storage_uri: str = "", tracking_uri: str = "", label: str = "",
          preset: str = "") -> dict:
    """Plain-function body of the component. `checkpoint_path`: a local file or folder, s3:// or
    models:/<name>/<version> (resolved with `tracking_uri`). `expected_identity_hash` '' = trust the
    checkpoint input (it is a task input, hence in the cache key). With a `storage_uri` the
    reconstruction, bitstreams and results are also published under
    <model>/<task>/<label>/lambda<λ>/ there (label: hyperprior and its chain)."""
    from fcbench.codecs import chain, get_codec
    from fcbench.components.codec_identity import identity_hash
    from fcbench.components.coding import code_features
    from fcbench.components.inputs import local_path
    from fcbench.components.stages.context import stage_context
    from fcbench.components.stages.params import parse_json, restore_rate_point
    from fcbench.components.storage.publish import publish_coding

    with stage_context("hyperprior_infer", codec="hyperprior", rate_point=rate_point, checkpoint=checkpoint_path):
        point = restore_rate_point(rate_point, integer=False)  # the model's lambda
        options = {"checkpoint": checkpoint_file(str(local_path(checkpoint_path, tracking=tracking_uri))),
                   "device": device}
        expected = expected_identity_hash or identity_hash(get_codec("hyperprior", **options).identity)
        summary = code_features(features_dir, "hyperprior", options, expected, point,
                                parse_json(conditions, "conditions"), recon_dir, results_path, bitstreams_dir,
                                preset=preset or None, label=label)
        publish_coding(storage_uri, model, task, chain.named("hyperprior", label), point, recon_dir, results_path,
                       bitstreams_dir)
        return summary


@container_images.component("codec")
def hyperprior_infer(features: Input[Dataset], rate_point: float, conditions: str,
                     codec_identity_hash: str, recon: Output[Dataset], bitstreams: Output[Dataset],
                     results: Output[Dataset], metrics: Output[Metrics], checkpoint: Input[Model] = None,
                     checkpoint_uri: str = "", model: str = "", task: str = "", storage_uri: str = "",
                     tracking_uri: str = "", label: str = "", preset: str = ""):
    """Encode + decode every sample with the hyperprior trained at lambda `rate_point` (CPU: ANS coding).
    The checkpoint: the `checkpoint` artifact, else `checkpoint_uri` (path, s3://, models:/)."""
    from fcbench.components.report_html import point_metric_names
    from fcbench.components.stages.code_traditional import SUMMARY_METRICS
    from fcbench.components.stages.hyperprior_infer import infer
    from fcbench.components.stages.params import log_metrics

    if (checkpoint is None) == (not checkpoint_uri):
        raise ValueError("hyperprior_infer needs exactly one of the checkpoint artifact and checkpoint_uri")
    source = checkpoint.path if checkpoint is not None else checkpoint_uri
    summary = infer(features.path, source, rate_point, conditions, "cpu", recon.path, bitstreams.path,
                    results.path, codec_identity_hash, model, task, storage_uri, tracking_uri, label, preset)
    recon.metadata.update({"codec": "hyperprior", "rate_point": rate_point, "identity_hash": summary["identity_hash"]})
    from fcbench.codecs.chain import named

    log_metrics(metrics, point_metric_names(named("hyperprior", label), rate_point, "lambda",
                                            {k: summary.get(k) for k in SUMMARY_METRICS}))
