"""KFP component `evaluate`: run a machine's second half on every reconstruction of a run ->
one RD point each (the task metric joined with the codec's rate by fcbench.components.rd_join,
the same join `fcbench report` makes of `fcbench encode` and `fcbench evaluate` outputs), plus
the uncompressed reference point.

One task evaluates every point (a fan-in after the codec loops): the machine is loaded once,
not once per rate point, and the task process imports torch once. Runs in the GPU image and
requests a GPU in the pipelines (the big models need one). The rate, the feature MSE/PSNR and
the CPU times come from each codec task's `results` (the sweep's results.json, which measured
them while coding); a reconstruction and its results are paired by what both record (codec,
rate point, codec identity, coding conditions), never by list order. The uncompressed point's
rate is the bits of the features' stored dtype (docs/test-conditions.md §6).
"""
import json
from typing import Any, List

from kfp.dsl import Artifact, Dataset, Input, Metrics, Output

from fcbench.components.rd_points import UNCOMPRESSED
from fcbench.components.stages import container_images

__all__ = ["UNCOMPRESSED", "evaluate", "evaluate_points", "pair_rates", "point_metrics"]


def _pair_key(label: object, rate_point: Any, identity: object, conditions: object, where: str) -> tuple:
    """What a reconstruction and its rate results both record: label (the codec and its chain),
    rate point, codec build and coding conditions."""
    from fcbench.components.codec_identity import identity_hash

    if not label or rate_point is None or not isinstance(identity, dict) or not isinstance(conditions, dict):
        raise ValueError(f"{where} does not say which codec and chain, rate point, codec build and conditions made it")
    return str(label), float(rate_point), identity_hash(identity), json.dumps(conditions, sort_keys=True)


def _results_key(path: str) -> tuple[tuple, dict]:
    from pathlib import Path

    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"rate results {file} are missing")
    doc = json.loads(file.read_text())
    rows = doc.get("summary") if isinstance(doc, dict) else None
    if not rows or len({float(r.get("rate_point", "nan")) for r in rows}) != 1:
        raise ValueError(f"{file}: expected the results of one codec at one rate point, got summary {rows}")
    return _pair_key(doc.get("label"), rows[0].get("rate_point"), doc.get("identity"), doc.get("conditions"),
                     f"rate results {file}"), doc


def pair_rates(recon_dirs: list, rate_paths: list) -> list[tuple[str, tuple[str, dict]]]:
    """(reconstruction folder, (results file, its document)) for every reconstruction, matched
    with the results that record the same label, rate point, codec identity and conditions."""
    from fcbench.codecs.chain import recorded_label
    from fcbench.codecs.features.featureset import FeatureSet

    if len(recon_dirs) != len(rate_paths):
        raise ValueError(f"{len(recon_dirs)} reconstructions but {len(rate_paths)} rate results")
    results: dict[tuple, tuple[str, dict]] = {}
    for path in rate_paths:
        key, doc = _results_key(str(path))
        if key in results:
            raise ValueError(f"two rate results for {key[0]} at rate point {key[1]} of one build: "
                             f"{results[key][0]} and {path}")
        results[key] = (str(path), doc)
    pairs = []
    for recon in recon_dirs:
        meta = FeatureSet.open(recon).meta
        key = _pair_key(recorded_label(meta), meta.get("rate_point"), meta.get("codec_identity"), meta.get("conditions"),
                        f"reconstruction {recon}")
        if key not in results:
            raise ValueError(f"no rate results for the reconstruction {recon} ({key[0]}, rate point {key[1]})")
        pairs.append((str(recon), results.pop(key)))
    return pairs


def evaluate_points(reference_dir: str, recon_dirs: list, rate_paths: list, model: str, task: str,
                    weights_uri: str, data_uri: str, sample_list_uri: str, machine_options: "str | dict") -> list[dict]:
    """Plain-function body: the uncompressed point of `reference_dir`, then one RD point per
    reconstruction (paired with its rate results; its label, e.g. x265+side, is the one its
    manifest records), as dicts (fcbench.components.rd_points.RDPoint schema). The machine is
    built once and evaluates them all."""
    from fcbench.components.inputs import local_path
    from fcbench.components.rd_join import evaluation_doc, rd_point
    from fcbench.components.stages.context import stage_context
    from fcbench.components.stages.params import parse_json
    from fcbench.machines import get_machine
    from fcbench.machines.base import machine_needs_reference

    with stage_context("evaluate", model=model, task=task) as ctx:
        todo: list = [(reference_dir, None), *pair_rates(recon_dirs, rate_paths)]
        options = parse_json(machine_options, "machine_options")
        machine = get_machine(model, task, weights=local_path(weights_uri) if weights_uri else None, **options)
        extra: dict[str, Any] = {"sample_list": local_path(sample_list_uri)} if sample_list_uri else {}
        if machine_needs_reference(model, task):  # sd3/tti's FID: against the ORIGINAL latents' images
            extra["reference"] = reference_dir
        data = local_path(data_uri)
        points = []
        for recon, rate in todo:
            ctx.update(label=rate[1]["label"] if rate else UNCOMPRESSED,
                       rate_point=rate[1]["summary"][0]["rate_point"] if rate else 0.0)
            evaluation = machine.evaluate(recon, data, **extra)
            points.append(rd_point(evaluation_doc(model, task, recon, evaluation), [rate] if rate else []).as_dict())
        return points


def point_metrics(points: list) -> dict:
    """The KFP metrics of the RD points, `<point name>:<name>` (RDPoint.name, as the coding tasks
    name theirs): the paper's bpfp, side and container bits apart, EBPFP, the task metric under its
    own name and the feature MSE and PSNR."""
    from fcbench.components.rd_points import RDPoint

    keys = ("bpfp", "side_bpfp", "container_bpfp", "ebpfp", "feature_mse", "feature_psnr")
    out = {}
    for rd in points:
        name = RDPoint.from_dict(rd).name
        out.update({f"{name}:{k}": rd.get(k) for k in keys})
        out[f"{name}:{rd['metric']}"] = rd["metric_value"]
    return out


@container_images.component("gpu")
def evaluate(reference: Input[Dataset], quantized: Input[Dataset], quantized_rate: Input[Dataset],
             recons: Input[List[Dataset]], rates: Input[List[Dataset]], model: str, task: str, weights_uri: str,
             data_uri: str, sample_list_uri: str, machine_options: dict, points: Output[Artifact],
             metrics: Output[Metrics], learned_recons: Input[List[Dataset]] = None,
             learned_rates: Input[List[Dataset]] = None):
    """Task metric of the uncompressed features, the quantization-only point and every
    reconstruction (the codec loops' fan-in), written as RD points (JSON)."""
    from fcbench.components.rd_points import RDPoint, save_points_json
    from fcbench.components.stages.evaluate import evaluate_points, point_metrics
    from fcbench.components.stages.params import log_metrics

    recon_dirs = [quantized.path, *(r.path for r in recons), *(r.path for r in learned_recons or [])]
    rate_paths = [quantized_rate.path, *(r.path for r in rates), *(r.path for r in learned_rates or [])]
    rd = evaluate_points(reference.path, recon_dirs, rate_paths, model, task, weights_uri, data_uri,
                         sample_list_uri, machine_options)
    save_points_json([RDPoint.from_dict(p) for p in rd], points.path)
    points.metadata.update({"points": len(rd)})
    log_metrics(metrics, point_metrics(rd))
