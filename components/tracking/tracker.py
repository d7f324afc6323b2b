"""The Tracker: log fcbench pipeline runs, RD points, reports and trainings to MLflow.

Layout (layout.py): experiment "fcbench/<model>/<task>", a parent run per pipeline run, a child
run per (codec, rate point), a run per hyperprior training with its checkpoint registered.
Everything goes through a Sink (sinks.py): MLflow, or an offline journal that
`upload_offline` (offline.py) replays later.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Sequence

from fcbench.codecs.common.types import PathLike
from fcbench.components import provenance
from fcbench.components.comparisons import beside
from fcbench.components.rd_points import RDPoint
from fcbench.components.reporting import Report, build_report, winner_line
from fcbench.components.tracking.layout import KIND_TAG, MAX_PARAM_CHARS, MAX_TAG_CHARS, POINT_TAG, experiment_name, registered_model_name
from fcbench.components.tracking.server import PROBE_TIMEOUT_S, TrackingUnavailableError, check_reachable, default_tracking_uri
from fcbench.components.tracking.sinks import MlflowSink, OfflineSink, Sink, str_dict

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PipelineRun:
    run_id: str
    experiment: str


class Tracker:
    """Log fcbench runs to MLflow (or, explicitly, to an offline journal).

    tracking_uri: an http(s) server or a database URI; None = MLFLOW_TRACKING_URI or a local
    sqlite store (see default_tracking_uri). offline_dir alone: journal only, no server. Both
    with fail_fast=False: use the server if it answers, else journal (with a warning). Both
    with fail_fast=True (or no offline_dir): an unreachable server raises
    TrackingUnavailableError at construction, before any work is done.
    """

    def __init__(self, tracking_uri: Optional[str] = None, offline_dir: Optional[PathLike] = None,
                 fail_fast: bool = True, local_dir: Optional[PathLike] = None,
                 probe_timeout: float = PROBE_TIMEOUT_S):
        self.offline_dir = Path(offline_dir) if offline_dir else None
        self.tracking_uri: Optional[str] = None
        self._active: Optional[PipelineRun] = None
        if self.offline_dir and tracking_uri is None:
            self.sink: Sink = OfflineSink(self.offline_dir)
            return
        uri = tracking_uri or default_tracking_uri(local_dir)
        try:
            check_reachable(uri, probe_timeout)
        except TrackingUnavailableError as exc:
            if fail_fast or not self.offline_dir:
                raise
            log.warning("%s -- recording offline in %s", exc, self.offline_dir)
            self.sink = OfflineSink(self.offline_dir)
            return
        self.tracking_uri = uri
        self.sink = MlflowSink(uri)

    @property
    def offline(self) -> bool:
        return isinstance(self.sink, OfflineSink)

    @staticmethod
    def provenance_tags() -> dict[str, str]:
        from fcbench.codecs.conditions import conditions_version

        tags = {"fcbench.version": provenance.version(), "fcbench.git_sha": provenance.git_sha(),
                "fcbench.conditions_version": conditions_version(), "fcbench.host": provenance.host(),
                "fcbench.image_digest": provenance.image_digest()}
        return {k: v for k, v in tags.items() if v}

    # ---- pipeline runs and points

    def open_pipeline_run(self, model: str, task: str, params: Optional[dict] = None, tags: Optional[dict] = None,
                          run_name: Optional[str] = None) -> PipelineRun:
        """Start a parent run that outlives this call (a pipeline's first step opens it, later
        steps log children with parent_run_id, the last step calls end_pipeline_run)."""
        exp = experiment_name(model, task)
        all_tags = {**self.provenance_tags(), KIND_TAG: "pipeline", "fcbench.model": model, "fcbench.task": task,
                    **(tags or {})}
        return PipelineRun(self._start(exp, run_name or f"{model}-{task}", None, dict(params or {}), all_tags), exp)

    def end_pipeline_run(self, run_id: str, status: str = "FINISHED") -> None:
        if status not in ("FINISHED", "FAILED", "KILLED"):
            raise ValueError(f"run status must be FINISHED, FAILED or KILLED, got {status!r}")
        self.sink.end_run(run_id, status)

    @contextmanager
    def start_pipeline_run(self, model: str, task: str, params: Optional[dict] = None, tags: Optional[dict] = None,
                           run_name: Optional[str] = None) -> Iterator[PipelineRun]:
        """Parent run for the body, which logs into it by default; FAILED if the body raises."""
        run, previous = self.open_pipeline_run(model, task, params, tags, run_name), self._active
        self._active = run
        try:
            yield run
        except BaseException:
            self.end_pipeline_run(run.run_id, "FAILED")
            raise
        else:
            self.end_pipeline_run(run.run_id, "FINISHED")
        finally:
            self._active = previous

    def _start(self, experiment: str, name: str, parent: Optional[str], params: dict, tags: dict,
               metrics: Sequence[tuple[str, float, int]] = ()) -> str:
        """Start a run; a param too long for MLflow is logged as a digest, the full set as params.json."""
        values = str_dict(params)
        long = {k for k, v in values.items() if len(v) > MAX_PARAM_CHARS}
        fitted = {k: (f"sha256:{hashlib.sha256(v.encode()).hexdigest()} ({len(v)} chars; see params.json)"
                      if k in long else v) for k, v in values.items()}
        run_id = self.sink.start_run(experiment, name, parent, fitted, tags, metrics)
        if long:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "params.json"
                path.write_text(json.dumps(values, indent=2, sort_keys=True))
                self.sink.log_artifact(run_id, path, "")
        return run_id

    def _parent(self, parent_run_id: Optional[str]) -> Optional[str]:
        return parent_run_id or (self._active.run_id if self._active else None)

    def log_point(self, point: RDPoint, params: Optional[dict] = None, tags: Optional[dict] = None,
                  parent_run_id: Optional[str] = None) -> str:
        """A child run for one (codec, rate point): every knob as a param, rate/metric/time as
        metrics, provenance (incl. the point's codec binary/cfg sha256 tags) as tags."""
        if not isinstance(point, RDPoint):
            raise TypeError(f"log_point needs an RDPoint, got {type(point).__name__}")
        core = {"model": point.model, "task": point.task, "label": point.label, "codec": point.codec,
                "rate_point": point.rate_point,
                "codec_version": point.codec_version, "metric": point.metric, "direction": point.direction,
                "samples": point.samples, "preset": point.preset}
        knobs = {**point.params, **(params or {})}
        clash = sorted(k for k in knobs if k in core and str(knobs[k]) != str(core[k]))
        if clash:
            raise ValueError(f"{point.where}: params {clash} contradict the point's own fields")
        all_params = {k: v for k, v in {**knobs, **core}.items() if v is not None}
        metrics = {"bpfp": point.bpfp, "side_bpfp": point.side_bpfp, "container_bpfp": point.container_bpfp,
                   "ebpfp": point.ebpfp, point.metric: point.metric_value,
                   "feature_mse": point.feature_mse, "feature_psnr": point.feature_psnr,
                   "encode_cpu_seconds": point.enc_s, "decode_cpu_seconds": point.dec_s}
        point_json = json.dumps(point.as_dict(), sort_keys=True, default=str)
        if len(point_json) > MAX_TAG_CHARS:  # params/tags are logged separately anyway
            point_json = json.dumps({**point.as_dict(), "params": {}, "tags": {}}, sort_keys=True, default=str)
        all_tags = {**self.provenance_tags(), **point.tags, **(tags or {}), KIND_TAG: "point", POINT_TAG: point_json}
        run_id = self._start(experiment_name(point.model, point.task), point.name,
                             self._parent(parent_run_id), all_params, all_tags,
                             [(k, v, 0) for k, v in metrics.items() if v is not None])
        self.sink.end_run(run_id, "FINISHED")
        return run_id

    def log_report(self, report: Report, run_id: Optional[str] = None) -> None:
        """Report files as artifacts under report/; on the (parent) run, the summary: BD-rates,
        feature-PSNR BD-rates and speed-ups as metrics, who wins as a tag per (model, task)."""
        target = self._parent(run_id)
        if target is None:
            raise ValueError("log_report needs run_id or an active start_pipeline_run")
        for path in report.files:
            self.sink.log_artifact(target, path, "report")
        self.sink.log(target, {}, summary_metrics(report), summary_tags(report))

    # ---- training and the model registry

    def log_training(self, model: str, task: str, lmbda: float, curves: Sequence[dict], checkpoint_path: PathLike,
                     config: Optional[dict] = None, parent_run_id: Optional[str] = None,
                     kind: str = "training") -> str:
        """A training run: config as params, one metric step per epoch, the checkpoint as an
        artifact registered as a new model version. Returns the model URI (models:/name/version).
        kind="import": a published model brought in by `fcbench hyperprior import` (no curves)."""
        ckpt = Path(checkpoint_path)
        if not ckpt.is_file():
            raise FileNotFoundError(f"checkpoint {ckpt} does not exist")
        if not math.isfinite(float(lmbda)) or float(lmbda) <= 0:
            raise ValueError(f"lambda must be a positive number, got {lmbda!r}")
        metrics: list[tuple[str, float, int]] = []
        for i, row in enumerate(curves):
            if not isinstance(row, dict):
                raise ValueError(f"training curve entry {i} is {type(row).__name__}, not a dict of metrics")
            step = int(row.get("epoch", i))
            for k, v in row.items():
                if k == "epoch":
                    continue
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    raise ValueError(f"training curve entry {i}: {k}={v!r} is not a number")
                metrics.append((k, float(v), step))
        name = registered_model_name(model, task, lmbda)
        # one name per parameter: the training config spells lambda "lmbda" (a Python keyword otherwise)
        params = {**{k: v for k, v in (config or {}).items() if k != "lmbda"}, "lambda": float(lmbda), "model": model,
                  "task": task}
        tags = {**self.provenance_tags(), KIND_TAG: kind, "fcbench.registered_model": name}
        verb = "train" if kind == "training" else kind
        run_id = self._start(experiment_name(model, task), f"{verb}-hyperprior-lambda{float(lmbda):g}",
                             self._parent(parent_run_id), params, tags)
        try:
            self.sink.log(run_id, {}, metrics, {})
            self.sink.log_artifact(run_id, ckpt, "checkpoint")
            uri = self.sink.register(run_id, name, "checkpoint", {"lambda": f"{float(lmbda):g}", "run_id": run_id})
        except BaseException:
            self.sink.end_run(run_id, "FAILED")
            raise
        self.sink.end_run(run_id, "FINISHED")
        return uri

    def log_fitted_table(self, model: str, task: str, table_path: PathLike, params: dict,
                         parent_run_id: Optional[str] = None) -> str:
        """A klt table fit: its options and summary as params, the file as an artifact registered
        as a new version of fcbench-<model>-<task>-klt. Returns the model URI (models:/name/version),
        which a codec entry's `table` option takes."""
        table = Path(table_path)
        if not table.is_file():
            raise FileNotFoundError(f"klt table {table} does not exist")
        name = f"fcbench-{model}-{task}-klt"
        tags = {**self.provenance_tags(), KIND_TAG: "klt-fit", "fcbench.registered_model": name}
        run_id = self._start(experiment_name(model, task), "fit-klt", self._parent(parent_run_id),
                             {**params, "model": model, "task": task}, tags)
        try:
            self.sink.log_artifact(run_id, table, "checkpoint")  # the artifact path registered models use
            uri = self.sink.register(run_id, name, "checkpoint", {"run_id": run_id, "sha256": str(params.get("sha256", ""))})
        except BaseException:
            self.sink.end_run(run_id, "FAILED")
            raise
        self.sink.end_run(run_id, "FINISHED")
        return uri

    # ---- reading back

    def points(self, experiment: str, parent_run_id: Optional[str] = None) -> list[RDPoint]:
        if self.offline:
            raise RuntimeError("reading points needs a tracking server, not an offline journal")
        from fcbench.components.tracking.runs import points_from_mlflow

        return points_from_mlflow(self.sink, experiment, parent_run_id)  # type: ignore[arg-type]


def report_to_run(points: Sequence[RDPoint], out_dir: PathLike, tracker: Optional[Tracker] = None,
                  run_id: Optional[str] = None, anchor: Optional[str] = None, fallback_anchor: Optional[str] = None,
                  title: Optional[str] = None) -> Report:
    """build_report, then (with a tracker) log it to `run_id` or the tracker's active pipeline run.
    The `fcbench report` command and the pipeline's report step both call this."""
    report = build_report(points, out_dir, anchor=anchor, title=title, fallback_anchor=fallback_anchor)
    if tracker is not None:
        tracker.log_report(report, run_id)
    return report


def summary_metrics(report: Report) -> list[tuple[str, float, int]]:
    """What the parent run's columns show in MLflow's runs table, per codec against its anchor:
    the BD-rate on the task metric and on feature PSNR, and the speed-ups."""
    out = []
    for b in report.bd:
        pair = f"{b.model}/{b.task}/{b.label}_vs_{b.anchor}"
        fid, enc, dec, _ = beside(report.comparisons, b)
        for name, value in (("bd_rate", b.bd_rate), ("bd_rate_feature_psnr", fid.bd_rate if fid else None),
                            ("enc_speedup", enc), ("dec_speedup", dec)):
            if value is not None:
                out.append((f"{name}/{pair}", float(value), 0))
    return out


def summary_tags(report: Report) -> dict[str, str]:
    """Who wins per (model, task), in the report's words, and how many flags the report raised."""
    groups = sorted({(b.model, b.task) for b in report.bd})
    tags = {f"fcbench.winner/{m}/{t}": winner_line(m, t, [b for b in report.bd if (b.model, b.task) == (m, t)])
            for m, t in groups}
    tags["fcbench.report_flags"] = str(sum(len(b.flags) for b in report.bd) + len(report.flags))
    return tags
