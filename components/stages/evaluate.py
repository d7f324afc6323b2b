"""KFP component `evaluate`: run a machine's second half on a (reconstructed) feature set ->
the task metric, joined with the codec's rate into one RD point (fcbench.components.rd_join,
the same join `fcbench report` makes of `fcbench encode` and `fcbench evaluate` outputs).

Runs in the GPU image and requests a GPU in the pipelines (the big models need one). The rate,
the feature MSE/PSNR and the CPU times come from the codec task's `results` (the sweep's
results.json, which measured them while coding: the reconstruction is not compared with the
reference again); for the uncompressed reference (codec "uncompressed") `rate` is the feature
set itself and the rate is the bits of its stored dtype (docs/test-conditions.md §6).
"""
from kfp.dsl import Artifact, Dataset, Input, Metrics, Output

from fcbench.components.rd_points import UNCOMPRESSED
from fcbench.components.stages import container_images

__all__ = ["UNCOMPRESSED", "evaluate", "evaluate_point", "point_metrics"]


def evaluate_point(recon_dir: str, reference_dir: str, model: str, task: str, weights_uri: str,
                   data_uri: str, sample_list_uri: str, machine_options: str, codec: str,
                   rate_point: float, rate_path: str) -> dict:
    """Plain-function body: the RD point as a dict (fcbench.components.rd_points.RDPoint schema).
    `reference_dir` is the original feature set the reconstruction came from (a task input, so
    in KFP's cache key); the sweep already measured the reconstruction against it."""
    import json
    from pathlib import Path

    from fcbench.components.inputs import local_path
    from fcbench.components.rd_join import evaluation_doc, rd_point
    from fcbench.components.stages.context import stage_context
    from fcbench.components.stages.params import parse_json
    from fcbench.machines import get_machine

    with stage_context("evaluate", model=model, task=task, codec=codec, rate_point=rate_point):
        results = []
        if codec != UNCOMPRESSED:
            path = Path(rate_path)
            if not path.is_file():
                raise FileNotFoundError(f"rate results {path} of codec {codec} are missing")
            results = [(str(path), json.loads(path.read_text()))]
        options = parse_json(machine_options, "machine_options")
        machine = get_machine(model, task, weights=local_path(weights_uri) if weights_uri else None, **options)
        extra = {"sample_list": local_path(sample_list_uri)} if sample_list_uri else {}
        evaluation = machine.evaluate(recon_dir, local_path(data_uri), **extra)
        point = rd_point(evaluation_doc(model, task, recon_dir, evaluation, codec=codec), results)
        return point.as_dict()


def point_metrics(rd: dict) -> dict:
    """The KFP metrics of an RD point: the paper's bpfp, side and container bits apart, EBPFP,
    the task metric under its own name and the feature MSE and PSNR."""
    keys = ("bpfp", "side_bpfp", "container_bpfp", "ebpfp", "feature_mse", "feature_psnr")
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
