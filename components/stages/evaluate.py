"""KFP component `evaluate`: run a machine's second half on a (reconstructed) feature set ->
the task metric and feature MSE, joined with the codec's rate into one RD point.

Runs in the GPU image and requests a GPU in the pipelines (the big models need one). The rate
comes from the codec task's `results` (the sweep's results.json); for the uncompressed reference
(codec "uncompressed") `rate` is the feature set itself and the rate is the bits of its stored
dtype (docs/test-conditions.md §6).
"""
from kfp.dsl import Artifact, Dataset, Input, Metrics, Output

from fcbench.codecs.rate import DTYPE_BITS
from fcbench.components.rd_points import UNCOMPRESSED
from fcbench.components.stages import container_images



def identity_tags(identity: dict | None) -> dict:
    """Provenance of the codec build as RD-point tags (binary and cfg sha256, version)."""
    if not identity:
        return {}
    keys = ("name", "version", "binary_sha256", "cfg_sha256")
    return {f"codec.{k}": str(identity[k]) for k in keys if identity.get(k) is not None}


def uncompressed_rate(features_dir: str) -> dict:
    """bpfp/ebpfp of the features as stored: bits of the origin dtype (32 f32, 16 f16/bf16)."""
    from fcbench.codecs.featureset import FeatureSet

    fs = FeatureSet.open(features_dir)
    dtypes = {fs.info(s).origin_dtype for s in fs.ids}
    if len(dtypes) != 1 or next(iter(dtypes)) not in DTYPE_BITS:
        raise ValueError(f"cannot state the uncompressed rate of origin dtypes {sorted(dtypes)}")
    bits = DTYPE_BITS[dtypes.pop()]
    return {"bpfp": float(bits), "side_bpfp": 0.0, "container_bpfp": 0.0, "ebpfp": 32.0, "samples": len(fs)}


def chain_params(conditions: dict | None) -> dict:
    """The coding chain's options (ranges, outlier side channel) as RD-point params, so the
    report and MLflow name what was used; none for the uncompressed point."""
    if not conditions:
        return {}
    from fcbench.codecs import chain

    return chain.describe(conditions)


def rate_summary(rate_path: str, codec: str) -> dict:
    """The one summary row of a codec task's results.json, or the uncompressed rate."""
    import json
    from pathlib import Path

    if codec == UNCOMPRESSED:
        return uncompressed_rate(rate_path)
    path = Path(rate_path)
    if not path.is_file():
        raise FileNotFoundError(f"rate results {path} of codec {codec} are missing")
    doc = json.loads(path.read_text())
    rows = doc.get("summary", []) if isinstance(doc, dict) else []
    if len(rows) != 1 or "bpfp" not in rows[0]:
        raise ValueError(f"{path}: expected one summary row with bpfp, got {rows}")
    return {**rows[0], "identity": doc.get("identity"), "conditions": doc.get("conditions")}


def evaluate_point(recon_dir: str, reference_dir: str, model: str, task: str, weights_uri: str,
                   data_uri: str, sample_list_uri: str, machine_options: str, codec: str,
                   rate_point: float, rate_path: str) -> dict:
    """Plain-function body: the RD point as a dict (fcbench.components.reporting.RDPoint schema)."""
    from fcbench.components.rd_points import RDPoint
    from fcbench.components.inputs import local_path
    from fcbench.components.stages.context import stage_context
    from fcbench.components.stages.params import parse_json
    from fcbench.machines import get_machine

    with stage_context("evaluate", model=model, task=task, codec=codec, rate_point=rate_point):
        rate = rate_summary(rate_path, codec)
        options = parse_json(machine_options, "machine_options")
        machine = get_machine(model, task, weights=local_path(weights_uri) if weights_uri else None, **options)
        extra = {"sample_list": local_path(sample_list_uri)} if sample_list_uri else {}
        evaluation = machine.evaluate(recon_dir, local_path(data_uri), reference=reference_dir, **extra)
        primary = evaluation.primary
        point = RDPoint(
            model=model, task=task, codec=codec, rate_point=rate.get("rate_point", rate_point),
            bpfp=float(rate["bpfp"]), ebpfp=float(rate.get("ebpfp", rate["bpfp"])),
            side_bpfp=rate.get("side_bpfp"), container_bpfp=rate.get("container_bpfp"),
            metric=primary.name, metric_value=float(primary.value), direction=primary.direction,
            feature_mse=evaluation.feature_mse,
            enc_s=rate.get("enc_s"), dec_s=rate.get("dec_s"), samples=rate.get("samples"),
            codec_version=(rate.get("identity") or {}).get("version"),
            params=chain_params(rate.get("conditions")),
            tags=identity_tags(rate.get("identity")),
        )
        return point.as_dict()


def point_metrics(rd: dict) -> dict:
    """The KFP metrics of an RD point: the paper's bpfp, side and container bits apart, EBPFP,
    the task metric under its own name and the feature MSE."""
    keys = ("bpfp", "side_bpfp", "container_bpfp", "ebpfp", "feature_mse")
    return {**{k: rd.get(k) for k in keys}, rd["metric"]: rd["metric_value"]}


@container_images.component("gpu")
def evaluate(recon: Input[Dataset], reference: Input[Dataset], model: str, task: str, weights_uri: str,
             data_uri: str, sample_list_uri: str, machine_options: str, codec: str, rate_point: float,
             rate: Input[Dataset], point: Output[Artifact], metrics: Output[Metrics]):
    """Task metric + feature MSE of one reconstruction, written as an RD point (JSON)."""
    import json

    from fcbench.codecs import atomic
    from fcbench.components.stages.evaluate import evaluate_point, point_metrics
    from fcbench.components.stages.params import log_metrics

    rd = evaluate_point(recon.path, reference.path, model, task, weights_uri, data_uri, sample_list_uri,
                        machine_options, codec, rate_point, rate.path)
    atomic.write_json(point.path, rd)
    point.metadata.update({"codec": codec, "rate_point": rate_point})
    log_metrics(metrics, point_metrics(rd))
    print(json.dumps(rd))
