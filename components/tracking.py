"""MLflow tracking of fcbench runs, with a fail-fast reachability check and an offline journal.

Layout in MLflow: experiment "fcbench/<model>/<task>"; a parent run per pipeline run; a nested
child run per (codec, rate point); a run per hyperprior training, whose checkpoint becomes a new
version of the registered model "fcbench-<model>-<task>-hyperprior-lambda<lambda>".

Everything goes through a small sink interface with two implementations: MLflow itself, and an
offline journal (one JSON file per event) that `upload_offline` later replays into MLflow. So an
unreachable server either fails in seconds with a message naming the URI, or, when asked
(`offline_dir`), nothing is lost.
"""
from __future__ import annotations

import abc
import hashlib
import json
import logging
import math
import os
import re
import shutil
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence, Union
from urllib.parse import urlparse

from fcbench.codecs import settings
from fcbench.codecs.atomic import write_json
from fcbench.components import provenance
from fcbench.components.reporting import RDPoint, Report, build_report

log = logging.getLogger(__name__)

PathLike = Union[str, Path]
KIND_TAG = "fcbench.kind"  # pipeline | point | training
POINT_TAG = "fcbench.point"  # the RDPoint as JSON, so reports rebuild points exactly
MAX_TAG_CHARS = 7500  # MLflow caps tag values at 8000 characters
MAX_PARAM_CHARS = 6000  # ... and param values at 6000 (longer ones it would truncate)
PROBE_TIMEOUT_S = 3.0


class TrackingUnavailableError(RuntimeError):
    """The tracking server cannot be reached (raised before anything is logged)."""


def experiment_name(model: str, task: str) -> str:
    return f"fcbench/{model}/{task}"


def registered_model_name(model: str, task: str, lmbda: float) -> str:
    return f"fcbench-{model}-{task}-hyperprior-lambda{float(lmbda):g}"


def sqlite_db_path(uri: str) -> Path:
    """The database file of a `sqlite:///rel` or `sqlite:////abs` URI, absolute. (urlparse keeps
    a leading `//` for the absolute form, which would turn into a file:// host name.)"""
    if not uri.startswith("sqlite:///"):
        raise ValueError(f"not a sqlite URI: {uri!r}")
    return Path(uri[len("sqlite:///"):]).resolve()


def default_tracking_uri(local_dir: Optional[PathLike] = None) -> str:
    """MLFLOW_TRACKING_URI, else a sqlite store under local_dir (or FCBENCH_MLFLOW_DIR, or ./mlflow)."""
    if settings.TRACKING_URI.get():
        return settings.TRACKING_URI.get()
    root = Path(local_dir or settings.MLFLOW_DIR.get() or "mlflow").resolve()
    return f"sqlite:///{root}/mlflow.db"


def _is_http(uri: str) -> bool:
    return urlparse(uri).scheme in ("http", "https")


def check_reachable(uri: str, timeout: float = PROBE_TIMEOUT_S) -> None:
    """Probe the server's /health (HTTP) or the sqlite file's folder; raise naming the URI.

    MLflow's own client retries with backoff for minutes; this answers in `timeout` seconds.
    """
    scheme = urlparse(uri).scheme
    if _is_http(uri):
        url = uri.rstrip("/") + "/health"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                if resp.status != 200:
                    raise TrackingUnavailableError(f"MLflow server {uri} answered /health with HTTP {resp.status}")
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise TrackingUnavailableError(
                f"MLflow tracking server {uri} is unreachable ({reason}). Start it or fix MLFLOW_TRACKING_URI / "
                "--mlflow; or record offline (Tracker(offline_dir=...)) and upload later with "
                "upload_offline / `fcbench upload-tracking`."
            ) from None
    elif scheme == "sqlite":
        db = sqlite_db_path(uri)
        try:
            db.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TrackingUnavailableError(f"cannot create the local MLflow store for {uri}: {exc}") from None
    elif scheme in ("", "file"):
        raise TrackingUnavailableError(f"tracking URI {uri!r}: MLflow 3 refuses file stores; use sqlite:///<dir>/mlflow.db or http(s)://")


# ------------------------------------------------------------------ sinks


class Sink(abc.ABC):
    """Where tracking calls go: MLflow, or the offline journal."""

    @abc.abstractmethod
    def start_run(self, experiment: str, name: str, parent: Optional[str], params: dict, tags: dict,
                  metrics: Sequence[tuple[str, float, int]] = ()) -> str: ...

    @abc.abstractmethod
    def log(self, run_id: str, params: dict, metrics: Sequence[tuple[str, float, int]], tags: dict) -> None: ...

    @abc.abstractmethod
    def log_artifact(self, run_id: str, local_path: PathLike, artifact_path: str) -> None: ...

    @abc.abstractmethod
    def end_run(self, run_id: str, status: str) -> None: ...

    @abc.abstractmethod
    def register(self, run_id: str, name: str, artifact_path: str, tags: dict) -> str: ...


class MlflowSink(Sink):
    def __init__(self, tracking_uri: str):
        from mlflow import MlflowClient

        settings.apply_mlflow_client_defaults()
        self.uri = tracking_uri
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        self._experiments: dict[str, str] = {}

    def experiment_id(self, name: str, create: bool = True) -> Optional[str]:
        from mlflow.exceptions import MlflowException

        if name in self._experiments:
            return self._experiments[name]
        exp = self.client.get_experiment_by_name(name)
        if exp is None and create:
            location = None
            if urlparse(self.uri).scheme == "sqlite":  # keep local artifacts beside the database
                location = (sqlite_db_path(self.uri).parent / "artifacts").as_uri()
            try:
                self._experiments[name] = self.client.create_experiment(name, artifact_location=location)
            except MlflowException:  # created meanwhile by a parallel step? else a real error
                exp = self.client.get_experiment_by_name(name)
                if exp is None:
                    raise
        if exp is not None:
            self._experiments[name] = exp.experiment_id
        return self._experiments.get(name)

    def start_run(self, experiment: str, name: str, parent: Optional[str], params: dict, tags: dict,
                  metrics: Sequence[tuple[str, float, int]] = ()) -> str:
        tags = dict(tags)
        if parent:
            tags["mlflow.parentRunId"] = parent
        run = self.client.create_run(self.experiment_id(experiment), run_name=name, tags=_str_dict(tags))
        self.log(run.info.run_id, params, metrics, {})
        return run.info.run_id

    def log(self, run_id: str, params: dict, metrics: Sequence[tuple[str, float, int]], tags: dict) -> None:
        from mlflow.entities import Metric, Param, RunTag

        now = int(time.time() * 1000)
        ps = [Param(k, v) for k, v in _str_dict(params).items()]
        ms = [Metric(k, float(v), now, int(step)) for k, v, step in metrics]
        ts = [RunTag(k, v) for k, v in _str_dict(tags).items()]
        # MLflow's per-request caps: 100 params, 1000 metrics, 100 tags.
        batches = max(math.ceil(len(ps) / 100), math.ceil(len(ms) / 1000), math.ceil(len(ts) / 100))
        for i in range(batches):
            self.client.log_batch(run_id, metrics=ms[i * 1000 : (i + 1) * 1000], params=ps[i * 100 : (i + 1) * 100],
                                  tags=ts[i * 100 : (i + 1) * 100])

    def log_artifact(self, run_id: str, local_path: PathLike, artifact_path: str) -> None:
        self.client.log_artifact(run_id, str(local_path), artifact_path or None)

    def end_run(self, run_id: str, status: str) -> None:
        self.client.set_terminated(run_id, status)

    def register(self, run_id: str, name: str, artifact_path: str, tags: dict) -> str:
        from mlflow.exceptions import MlflowException

        try:
            self.client.create_registered_model(name)
        except MlflowException as exc:
            if "RESOURCE_ALREADY_EXISTS" not in str(exc.error_code):
                raise
        mv = self.client.create_model_version(name, source=f"runs:/{run_id}/{artifact_path}", run_id=run_id,
                                              tags=_str_dict(tags))
        return f"models:/{name}/{mv.version}"


class OfflineSink(Sink):
    """Journal of tracking events: <offline_dir>/<session>/events/<n>.json, files beside them.

    One session per Tracker (a pipeline step is a process); run ids are "offline-<uuid>" and stay
    valid across sessions, so a child logged by one step can name a parent started by another.
    """

    def __init__(self, offline_dir: PathLike):
        self.root = Path(offline_dir)
        self.session = self.root / f"{time.strftime('%Y%m%dT%H%M%S')}-{time.time_ns() % 10**9:09d}-{uuid.uuid4().hex[:8]}"
        self._n = 0

    def _event(self, **event: Any) -> None:
        self._n += 1
        write_json(self.session / "events" / f"{self._n:06d}.json", event)

    def start_run(self, experiment: str, name: str, parent: Optional[str], params: dict, tags: dict,
                  metrics: Sequence[tuple[str, float, int]] = ()) -> str:
        run_id = f"offline-{uuid.uuid4().hex}"
        self._event(type="start_run", run=run_id, experiment=experiment, name=name, parent=parent,
                    params=_str_dict(params), tags=_str_dict(tags), metrics=[list(m) for m in metrics])
        return run_id

    def log(self, run_id: str, params: dict, metrics: Sequence[tuple[str, float, int]], tags: dict) -> None:
        self._event(type="log", run=run_id, params=_str_dict(params), metrics=[list(m) for m in metrics],
                    tags=_str_dict(tags))

    def log_artifact(self, run_id: str, local_path: PathLike, artifact_path: str) -> None:
        src = Path(local_path)
        if not src.is_file():
            raise FileNotFoundError(f"artifact {src} does not exist")
        dst = self.session / "files" / f"{self._n + 1:06d}" / src.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(f".{dst.name}.tmp")
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
        self._event(type="artifact", run=run_id, file=str(dst.relative_to(self.root)), artifact_path=artifact_path)

    def end_run(self, run_id: str, status: str) -> None:
        self._event(type="end_run", run=run_id, status=status)

    def register(self, run_id: str, name: str, artifact_path: str, tags: dict) -> str:
        self._event(type="register", run=run_id, name=name, artifact_path=artifact_path, tags=_str_dict(tags))
        # Until uploaded, the model is its journalled files: a local URI load_registered_checkpoint reads.
        return (self.session / "files").resolve().as_uri() + f"#run={run_id}&path={artifact_path}"


def _str_dict(d: Optional[dict]) -> dict[str, str]:
    out = {}
    for k, v in (d or {}).items():
        out[str(k)] = v if isinstance(v, str) else json.dumps(v, sort_keys=True, default=str)
    return out


# ------------------------------------------------------------------ tracker


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
        values = _str_dict(params)
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
        core = {"model": point.model, "task": point.task, "codec": point.codec, "rate_point": point.rate_point,
                "codec_version": point.codec_version, "metric": point.metric, "direction": point.direction,
                "samples": point.samples}
        knobs = {**point.params, **(params or {})}
        clash = sorted(k for k in knobs if k in core and str(knobs[k]) != str(core[k]))
        if clash:
            raise ValueError(f"{point.label}: params {clash} contradict the point's own fields")
        all_params = {k: v for k, v in {**knobs, **core}.items() if v is not None}
        metrics = {"bpfp": point.bpfp, "side_bpfp": point.side_bpfp, "container_bpfp": point.container_bpfp,
                   "ebpfp": point.ebpfp, point.metric: point.metric_value,
                   "feature_mse": point.feature_mse, "encode_seconds": point.enc_s, "decode_seconds": point.dec_s}
        point_json = json.dumps(point.as_dict(), sort_keys=True, default=str)
        if len(point_json) > MAX_TAG_CHARS:  # params/tags are logged separately anyway
            point_json = json.dumps({**point.as_dict(), "params": {}, "tags": {}}, sort_keys=True, default=str)
        all_tags = {**self.provenance_tags(), **point.tags, **(tags or {}), KIND_TAG: "point", POINT_TAG: point_json}
        run_id = self._start(experiment_name(point.model, point.task), f"{point.codec}@{point.rate_point}",
                             self._parent(parent_run_id), all_params, all_tags,
                             [(k, v, 0) for k, v in metrics.items() if v is not None])
        self.sink.end_run(run_id, "FINISHED")
        return run_id

    def log_report(self, report: Report, run_id: Optional[str] = None) -> None:
        """Report files as artifacts under report/, BD-rates as metrics on the (parent) run."""
        target = self._parent(run_id)
        if target is None:
            raise ValueError("log_report needs run_id or an active start_pipeline_run")
        for path in report.files:
            self.sink.log_artifact(target, path, "report")
        metrics = [(f"bd_rate/{b.model}/{b.task}/{b.codec}_vs_{b.anchor}", b.bd_rate, 0) for b in report.bd
                   if b.bd_rate is not None]
        flags = sum(len(b.flags) for b in report.bd) + len(report.flags)
        self.sink.log(target, {}, metrics, {"fcbench.report_flags": str(flags)})

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
        params = {**(config or {}), "lambda": float(lmbda), "model": model, "task": task}
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

    # ---- reading back

    def points(self, experiment: str, parent_run_id: Optional[str] = None) -> list[RDPoint]:
        if self.offline:
            raise RuntimeError("reading points needs a tracking server, not an offline journal")
        return points_from_mlflow(self.sink, experiment, parent_run_id)  # type: ignore[arg-type]


def pipeline_points(sink: Union[MlflowSink, str], experiment: str, parent_run_id: Optional[str] = None) -> tuple[str, list[RDPoint]]:
    """(parent run id, its RD points): `parent_run_id`, else the latest pipeline run with point runs."""
    if isinstance(sink, str):
        check_reachable(sink)
        sink = MlflowSink(sink)
    exp_id = sink.experiment_id(experiment, create=False)
    if exp_id is None:
        raise KeyError(f"no MLflow experiment {experiment!r} at {sink.uri}")
    if parent_run_id is not None and not re.fullmatch(r"[0-9A-Za-z_-]+", parent_run_id):
        raise ValueError(f"{parent_run_id!r} is not an MLflow run id")
    parents = [parent_run_id] if parent_run_id else [
        r.info.run_id for r in sink.client.search_runs([exp_id], f"tags.`{KIND_TAG}` = 'pipeline'", order_by=["attributes.start_time DESC"])]
    for parent in parents:
        runs = sink.client.search_runs([exp_id], f"tags.`{KIND_TAG}` = 'point' and tags.`mlflow.parentRunId` = '{parent}'",
                                       max_results=10000)
        if runs:
            return parent, [RDPoint.from_dict(json.loads(r.data.tags[POINT_TAG]), source=f"MLflow run {r.info.run_id}")
                            for r in runs]
    where = f"pipeline run {parent_run_id}" if parent_run_id else f"any pipeline run of {experiment!r}"
    raise ValueError(f"no RD point runs under {where} at {sink.uri}")


def points_from_mlflow(sink: Union[MlflowSink, str], experiment: str, parent_run_id: Optional[str] = None) -> list[RDPoint]:
    return pipeline_points(sink, experiment, parent_run_id)[1]


def report_to_run(points: Sequence[RDPoint], out_dir: PathLike, tracker: Optional[Tracker] = None,
                  run_id: Optional[str] = None, anchor: str = "vtm", fallback_anchor: Optional[str] = None,
                  title: Optional[str] = None) -> Report:
    """build_report, then (with a tracker) log it to `run_id` or the tracker's active pipeline run.
    The `fcbench report` command and the pipeline's report step both call this."""
    report = build_report(points, out_dir, anchor=anchor, title=title, fallback_anchor=fallback_anchor)
    if tracker is not None:
        tracker.log_report(report, run_id)
    return report


def load_registered_checkpoint(model_uri: str, dst_dir: PathLike, tracking_uri: Optional[str] = None) -> Path:
    """Download a registered hyperprior's checkpoint file (models:/name/version, runs:/..., or
    an offline journal URI) into dst_dir and return its path."""
    dst = Path(dst_dir)
    dst.mkdir(parents=True, exist_ok=True)
    if model_uri.startswith("file:") and "#run=" in model_uri:
        files = _offline_checkpoint(model_uri)
    else:
        import mlflow.artifacts

        uri = tracking_uri or default_tracking_uri()
        check_reachable(uri)
        settings.apply_mlflow_client_defaults()
        artifact_uri = _resolve_model_uri(model_uri, uri)
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=artifact_uri, dst_path=str(dst), tracking_uri=uri))
        files = [local] if local.is_file() else sorted(p for p in local.rglob("*") if p.is_file())
    if len(files) != 1:
        raise ValueError(f"{model_uri}: expected exactly one checkpoint file, found {[f.name for f in files]}")
    if files[0].parent != dst:
        target = dst / files[0].name
        shutil.copyfile(files[0], target)
        return target
    return files[0]


def _resolve_model_uri(model_uri: str, tracking_uri: str) -> str:
    """models:/<name>/<version|alias|latest> -> its artifact URI, asked of *this* server's registry
    (mlflow's own models:/ resolution reads the process-global registry URI instead)."""
    if not model_uri.startswith("models:/"):
        return model_uri
    name, _, ref = model_uri[len("models:/"):].rpartition("/")
    if not name:
        raise ValueError(f"model URI {model_uri!r} is not models:/<name>/<version|alias|latest>")
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    if ref == "latest":
        versions = client.search_model_versions(f"name = '{name}'")
        if not versions:
            raise KeyError(f"registered model {name!r} has no versions at {tracking_uri}")
        ref = str(max(int(v.version) for v in versions))
    version = ref if ref.isdigit() else client.get_model_version_by_alias(name, ref).version
    return client.get_model_version_download_uri(name, version)


def _offline_checkpoint(model_uri: str) -> list[Path]:
    base, frag = model_uri.split("#", 1)
    run = dict(p.split("=", 1) for p in frag.split("&"))["run"]
    session = Path(urlparse(base).path).parent
    for ev in _events(session):
        if ev["type"] == "artifact" and ev["run"] == run and ev["artifact_path"] == "checkpoint":
            return [session.parent / ev["file"]]
    raise FileNotFoundError(f"{model_uri}: no journalled checkpoint for run {run}")


# ------------------------------------------------------------------ offline upload


def _events(session: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((session / "events").glob("*.json"))]


def upload_offline(offline_dir: PathLike, tracking_uri: str) -> dict[str, str]:
    """Replay every journalled session into MLflow, oldest first; returns offline -> MLflow run ids.

    Progress is saved after each event in <offline_dir>/uploaded.json, so an interrupted upload
    resumes where it stopped and a finished one is not repeated.
    """
    root = Path(offline_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"offline tracking directory {root} does not exist")
    check_reachable(tracking_uri)
    sink = MlflowSink(tracking_uri)
    state_path = root / "uploaded.json"
    state = json.loads(state_path.read_text()) if state_path.is_file() else {"ids": {}, "done": {}}
    ids: dict[str, str] = state["ids"]
    pending = sorted(p for p in root.iterdir() if (p / "events").is_dir())
    # Sessions go oldest first. Pipeline steps are processes that start in any order, so a
    # session whose next event names a run journalled by a session not yet replayed (a parent,
    # or the run a report step logs into) waits for the next pass.
    while pending:
        waiting, progress = [], False
        for session in pending:
            events = _events(session)
            for n in range(state["done"].get(session.name, 0), len(events)):
                if _unknown_runs(events[n], ids):
                    waiting.append(session)
                    break
                _replay(sink, root, events[n], ids)
                state["done"][session.name] = n + 1
                write_json(state_path, state)
                progress = True
        if waiting and not progress:
            waiting_events = [e for s in waiting for e in _events(s)]
            started = {e["run"] for e in waiting_events if e["type"] == "start_run"}
            missing = sorted({r for e in waiting_events for r in _unknown_runs(e, ids)} - started)
            raise ValueError(f"offline runs in {[s.name for s in waiting]} name run(s) {missing} "
                             f"that no journalled session in {root} started")
        pending = waiting
    return dict(ids)


def _unknown_runs(ev: dict, ids: dict[str, str]) -> set[str]:
    refs = {ev.get("parent")} if ev["type"] == "start_run" else {ev["run"]}
    return {r for r in refs if r and r.startswith("offline-") and r not in ids}


def _replay(sink: MlflowSink, root: Path, ev: dict, ids: dict[str, str]) -> None:
    kind = ev["type"]
    if kind == "start_run":
        parent = ids.get(ev["parent"], ev["parent"])
        ids[ev["run"]] = sink.start_run(ev["experiment"], ev["name"], parent, ev["params"], ev["tags"],
                                        [tuple(m) for m in ev.get("metrics", [])])
        return
    run = ids.get(ev["run"], ev["run"])
    if kind == "log":
        sink.log(run, ev["params"], [tuple(m) for m in ev["metrics"]], ev["tags"])
    elif kind == "artifact":
        sink.log_artifact(run, root / ev["file"], ev["artifact_path"])
    elif kind == "end_run":
        sink.end_run(run, ev["status"])
    elif kind == "register":
        tags = {**ev["tags"], "run_id": run}
        sink.register(run, ev["name"], ev["artifact_path"], tags)
    else:
        raise ValueError(f"unknown offline tracking event type {kind!r}")
