"""RD points from their two halves, joined by sample, label and rate point: the one place that
makes RD points (the evaluate stage and `fcbench report` both call it).

- The rate half: a sweep's results.json (`fcbench encode`, or a codec task of a pipeline): one
  row per (label, rate point, sample) with the rate, the feature MSE/PSNR the sweep measured and
  the CPU times. The label is the codec and its chain (fcbench.codecs.chain.label).
- The metric half: an evaluation (`fcbench evaluate --out`, or the evaluate stage): the machine's
  task metric of one (reconstructed) feature set, the samples it evaluated, and the label, codec
  and rate point that set's manifest names (none: the uncompressed features).

A point's rate, fidelity and times are means over exactly the evaluated samples, so the task
metric and the rate always describe the same samples. The uncompressed point's rate is the bits
of the features' origin dtype (docs/test-conditions.md §6) and its feature MSE 0.
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any, Optional, Sequence, cast

from fcbench.codecs.chain.rate import DTYPE_BITS
from fcbench.codecs.common.types import PathLike
from fcbench.codecs.sweeps.results import row_label
from fcbench.components.rd_points import UNCOMPRESSED, RDPoint, dedupe, load_points

EVALUATION_FORMAT = "fcbench-evaluation/2"
# Format 1 of evaluations and 2 of results had no `label`: their `codec` held it (row_label).
EVALUATION_FORMATS = ("fcbench-evaluation/1", EVALUATION_FORMAT)
RESULTS_FORMATS = ("fcbench-results/2", "fcbench-results/3")
# Per-sample row values averaged into a point, and the point field each becomes.
_MEANS = {"bpfp": "bpfp", "side_bpfp": "side_bpfp", "container_bpfp": "container_bpfp", "ebpfp": "ebpfp",
          "mse": "feature_mse", "psnr_f": "feature_psnr", "enc_s": "enc_s", "dec_s": "dec_s"}


def evaluation_doc(model: str, task: str, features_dir: PathLike, evaluation: Any,
                   label: Optional[str] = None) -> dict:
    """The evaluation of the feature set `features_dir` (a machines.base.Evaluation) as a
    document: model, task, the set, its label, codec and rate point (from its manifest; a `label`
    given by a caller must agree), its origin dtypes and the evaluated samples, with the metrics."""
    from fcbench.codecs.chain import recorded_label
    from fcbench.codecs.features.featureset import FeatureSet

    fs = FeatureSet.open(features_dir)
    recorded = recorded_label(fs.meta) or UNCOMPRESSED
    if label is not None and label != recorded:
        raise ValueError(f"{features_dir} holds {recorded} features (its manifest), not {label}")
    body = evaluation.as_dict()
    samples = [s["id"] for s in body.get("per_sample", []) if isinstance(s, dict) and "id" in s] or fs.ids
    return {"format": EVALUATION_FORMAT, "model": model, "task": task, "features": str(features_dir),
            "label": recorded, "codec": fs.meta.get("codec"), "rate_point": fs.meta.get("rate_point"),
            "rate_unit": fs.meta.get("rate_unit"),
            "origin_dtypes": sorted({fs.info(s).origin_dtype for s in samples}), "samples": samples, **body}


def _mean(values: Sequence[Optional[float]]) -> Optional[float]:
    return None if not values or any(v is None for v in values) else float(sum(cast(Sequence[float], values)) / len(values))


def _same_rate(a: Any, b: Any) -> bool:
    try:
        return float(a) == float(b)  # a pipeline passes QP 22 as 22.0
    except (TypeError, ValueError):
        return False


def _rate_rows(evaluation: dict, results: Sequence[tuple[str, dict]]) -> tuple[list[dict], dict, str]:
    """(the rows of the evaluated samples, their set's entry, the results file) for an evaluation."""
    label, rate_point = row_label(evaluation), evaluation["rate_point"]
    found = []
    for source, doc in results:
        if doc.get("model") not in (None, evaluation["model"]) or doc.get("task") not in (None, evaluation["task"]):
            continue
        rows = {r["sample"]: r for r in doc.get("rows", []) if row_label(r) == label and _same_rate(r.get("rate_point"), rate_point)}
        if rows:
            found.append((source, doc, rows))
    where = f"{evaluation['model']}/{evaluation['task']} {label} at rate point {rate_point}"
    if not found:
        raise ValueError(f"no rate results for {where} (evaluated in {evaluation.get('features')}): give the "
                         "results.json of the sweep that made it")
    source, doc, rows = found[0]
    for other, _, more in found[1:]:
        clash = [s for s in evaluation["samples"] if s in rows and s in more and rows[s]["bpfp"] != more[s]["bpfp"]]
        if clash:
            raise ValueError(f"{source} and {other} disagree on the rate of {where} (samples {clash[:3]})")
    missing = [s for s in evaluation["samples"] if s not in rows]
    if missing:
        raise ValueError(f"{source} has no rate row for {len(missing)} evaluated sample(s) of {where}, e.g. {missing[:3]}")
    sets = [s for s in doc.get("sets", []) if row_label(s) == label and _same_rate(s.get("rate_point"), rate_point)]
    entry = sets[0] if sets else {"identity": doc.get("identity"), "conditions": doc.get("conditions")}
    return [rows[s] for s in evaluation["samples"]], entry, source


def uncompressed_rate(origin_dtypes: Sequence[str]) -> dict:
    """bpfp/ebpfp of features as stored: bits of the origin dtype (32 f32, 16 f16/bf16)."""
    if len(origin_dtypes) != 1 or origin_dtypes[0] not in DTYPE_BITS:
        raise ValueError(f"cannot state the uncompressed rate of origin dtypes {sorted(origin_dtypes)}")
    return {"bpfp": float(DTYPE_BITS[origin_dtypes[0]]), "side_bpfp": 0.0, "container_bpfp": 0.0, "ebpfp": 32.0,
            "feature_mse": 0.0, "feature_psnr": None, "enc_s": None, "dec_s": None}


def identity_tags(identity: Optional[dict]) -> dict:
    """Provenance of the codec build as RD-point tags (binary and cfg sha256, version)."""
    if not identity:
        return {}
    keys = ("name", "version", "binary_sha256", "cfg_sha256")
    return {f"codec.{k}": str(identity[k]) for k in keys if identity.get(k) is not None}


def chain_params(conditions: Optional[dict]) -> dict:
    """The coding chain's options (ranges, outlier side channel) as RD-point params, so the
    report and MLflow name what was used; none for the uncompressed point."""
    if not conditions:
        return {}
    from fcbench.codecs import chain

    return chain.describe(conditions)


def rd_point(evaluation: dict, results: Sequence[tuple[str, dict]] = ()) -> RDPoint:
    """The RD point of one evaluation, its rate from `results` ((source, results.json document)
    pairs; none needed for the uncompressed features)."""
    metric = evaluation["metrics"][evaluation["primary"]]
    label = row_label(evaluation)
    common: dict[str, Any] = dict(model=evaluation["model"], task=evaluation["task"], label=label,
                  metric=metric["name"], metric_value=float(metric["value"]), direction=metric["direction"],
                  samples=len(evaluation["samples"]))
    if label == UNCOMPRESSED:
        return RDPoint(rate_point=0.0, **common, **uncompressed_rate(evaluation["origin_dtypes"]))
    rows, entry, _ = _rate_rows(evaluation, results)
    common["codec"] = _codec_of(evaluation, rows[0])
    means: dict[str, Any] = {field: _mean([r.get(key) for r in rows]) for key, field in _MEANS.items()}
    presets = {r.get("preset") for r in rows}
    identity = entry.get("identity") or {}
    return RDPoint(rate_point=rows[0]["rate_point"], **common, **means,
                   preset=presets.pop() if len(presets) == 1 else None, codec_version=identity.get("version"),
                   params={**chain_params(entry.get("conditions")), **_rate_unit(rows[0])}, tags=identity_tags(identity))


def _codec_of(evaluation: dict, row: dict) -> Optional[str]:
    """The codec alone (x265 of x265+side); None where both halves predate the label's own field."""
    for entry in (evaluation, row):
        if "label" in entry and entry.get("codec"):
            return str(entry["codec"])
    return None


def _rate_unit(row: dict) -> dict:
    """What the rate point is (qp, crf, lambda): a param of the point, shown beside it in reports."""
    return {"rate_unit": row["rate_unit"]} if row.get("rate_unit") else {}


def classify(doc: Any) -> Optional[str]:
    """'evaluation', 'results' or None for a JSON document found among results files."""
    if not isinstance(doc, dict):
        return None
    if doc.get("format") in EVALUATION_FORMATS:
        return "evaluation"
    if doc.get("format") in RESULTS_FORMATS and isinstance(doc.get("rows"), list):
        return "results"
    return None


def load_report_inputs(*paths: PathLike) -> list[RDPoint]:
    """RD points from results paths (files or folders searched for *.json): RD point files as
    `rd_points.load_points` reads them, plus every evaluation joined with the sweep results
    found among the paths. A path that yields nothing reportable is an error saying what is
    missing."""
    points: list[RDPoint] = []
    evaluations: list[dict] = []
    results: list[tuple[str, dict]] = []
    for path in map(Path, paths):
        found = [(f, *_read(f)) for f in (sorted(path.rglob("*.json")) if path.is_dir() else [path])]
        halves = [(f, kind, doc) for f, kind, doc in found if kind]
        evaluations += [doc for _, kind, doc in halves if kind == "evaluation"]
        results += [(str(f), doc) for f, kind, doc in halves if kind == "results"]
        if halves and not path.is_dir():
            continue
        try:
            points += load_points(path)
        except ValueError:
            if not halves:
                raise
    if results and not evaluations and not points:
        raise ValueError(f"found sweep results ({results[0][0]}) but no evaluations: run `fcbench evaluate --features "
                         "<recon set> --out <file>.json` on each reconstruction (and the original features)")
    return _preset_of_the_rest(dedupe([*points, *(rd_point(e, results) for e in evaluations)]))


def _preset_of_the_rest(points: list[RDPoint]) -> list[RDPoint]:
    """The uncompressed features are coded under no preset: their point takes the one preset
    of the other points (as the pipeline's report labels it with the run's)."""
    presets = {p.preset for p in points if p.preset is not None}
    if len(presets) != 1:
        return points
    (preset,) = presets
    return [replace(p, preset=preset) if p.label == UNCOMPRESSED and p.preset is None else p for p in points]


def _read(path: Path) -> tuple[Optional[str], Any]:
    """(kind, document) of a JSON file; (None, None) for anything that is not one of the halves."""
    if path.suffix != ".json" or not path.is_file():
        return None, None
    try:
        doc = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None, None
    return classify(doc), doc
