"""KFP component `hyperprior_infer`: code the feature set with a trained hyperprior (the rate
point is the model's lambda) -> reconstructed feature set and rate results.

The checkpoint arrives as a Model artifact (trained in the pipeline or imported); its sha256 is
part of the codec identity checked here, and the artifact itself is in KFP's cache key.
"""
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from fcbench.components import images


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


def infer(features_dir: str, checkpoint_path: str, lmbda: float, conditions: str, device: str,
          recon_dir: str, bitstreams_dir: str, results_path: str, expected_identity: str = "") -> dict:
    """Plain-function body of the component. `expected_identity` '' = trust the Model artifact
    (it is a task input, hence in the cache key)."""
    from fcbench.codecs import get_codec
    from fcbench.components.coding import code_features
    from fcbench.components.runtime import identity_hash, parse_json, rate_point, stage_context

    with stage_context("hyperprior_infer", codec="hyperprior", rate_point=lmbda):
        options = {"checkpoint": checkpoint_file(checkpoint_path), "device": device}
        identity = expected_identity or identity_hash(get_codec("hyperprior", **options).identity)
        return code_features(features_dir, "hyperprior", options, identity, rate_point(lmbda, integer=False),
                             parse_json(conditions, "conditions"), recon_dir, results_path, bitstreams_dir)


@images.component("codec")
def hyperprior_infer(features: Input[Dataset], checkpoint: Input[Model], lmbda: float, conditions: str,
                     codec_identity: str, recon: Output[Dataset], bitstreams: Output[Dataset],
                     results: Output[Dataset], metrics: Output[Metrics]):
    """Encode + decode every sample with the hyperprior trained at `lmbda` (CPU: ANS coding)."""
    from fcbench.components.hyperprior_infer import infer
    from fcbench.components.runtime import log_metrics
    from fcbench.components.vtm_encode import SUMMARY_METRICS

    summary = infer(features.path, checkpoint.path, lmbda, conditions, "cpu", recon.path,
                    bitstreams.path, results.path, codec_identity)
    recon.metadata.update({"codec": "hyperprior", "rate_point": lmbda, "identity": summary["identity"]})
    log_metrics(metrics, summary, SUMMARY_METRICS)
