"""Where tracking calls go: MLflow itself, or an offline journal replayed into MLflow later.

Both implement the small Sink interface the Tracker logs through, so an unreachable server either
fails in seconds (server.check_reachable) or, when asked, nothing is lost.
"""
from __future__ import annotations

import abc
import json
import math
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any, Optional, Sequence
from urllib.parse import urlparse

from fcbench.codecs.common import settings
from fcbench.codecs.common.atomic import write_json
from fcbench.codecs.common.types import PathLike
from fcbench.components.tracking.server import sqlite_db_path


class Sink(abc.ABC):
    """Where tracking calls go: MLflow, or the offline journal."""

    @abc.abstractmethod
    def start_run(self, experiment: str, name: str, parent: Optional[str], params: dict, tags: dict,
                  metrics: Sequence[tuple[str, float, int]] = ()) -> str: ...

    @abc.abstractmethod
    def log(self, run_id: str, params: dict, metrics: Sequence[tuple[str, float, int]], tags: dict,
            timestamp_ms: Optional[int] = None) -> None: ...

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
                  metrics: Sequence[tuple[str, float, int]] = (), timestamp_ms: Optional[int] = None) -> str:
        tags = dict(tags)
        if parent:
            tags["mlflow.parentRunId"] = parent
        run = self.client.create_run(self.experiment_id(experiment), run_name=name, tags=str_dict(tags))
        self.log(run.info.run_id, params, metrics, {}, timestamp_ms)
        return run.info.run_id

    def find_run(self, experiment: str, tag: str, value: str) -> Optional[str]:
        """The run of `experiment` tagged tag=value (what a replay tagged it with), if any."""
        exp_id = self.experiment_id(experiment, create=False)
        if exp_id is None:
            return None
        found = self.client.search_runs([exp_id], f"tags.`{tag}` = '{value}'", max_results=2)
        if len(found) > 1:
            raise ValueError(f"two MLflow runs are tagged {tag}={value} in {experiment}: {[r.info.run_id for r in found]}")
        return found[0].info.run_id if found else None

    def find_version(self, name: str, run_id: str) -> Optional[str]:
        """models:/<name>/<version> of the version registered from `run_id`, if any."""
        from mlflow.exceptions import MlflowException

        try:
            versions = self.client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
        except MlflowException:
            return None
        return f"models:/{name}/{versions[0].version}" if versions else None

    def log(self, run_id: str, params: dict, metrics: Sequence[tuple[str, float, int]], tags: dict,
            timestamp_ms: Optional[int] = None) -> None:
        """`timestamp_ms`: when the values were measured (a replayed journal passes its own, so
        logging the same event twice stores each metric once: MLflow keeps one row per
        (key, value, timestamp, step))."""
        from mlflow.entities import Metric, Param, RunTag

        now = int(timestamp_ms) if timestamp_ms else int(time.time() * 1000)
        ps = [Param(k, v) for k, v in str_dict(params).items()]
        ms = [Metric(k, float(v), now, int(step)) for k, v, step in metrics]
        ts = [RunTag(k, v) for k, v in str_dict(tags).items()]
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
                                              tags=str_dict(tags))
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
        write_json(self.session / "events" / f"{self._n:06d}.json", {**event, "time": int(time.time() * 1000)})

    def start_run(self, experiment: str, name: str, parent: Optional[str], params: dict, tags: dict,
                  metrics: Sequence[tuple[str, float, int]] = ()) -> str:
        run_id = f"offline-{uuid.uuid4().hex}"
        self._event(type="start_run", run=run_id, experiment=experiment, name=name, parent=parent,
                    params=str_dict(params), tags=str_dict(tags), metrics=[list(m) for m in metrics])
        return run_id

    def log(self, run_id: str, params: dict, metrics: Sequence[tuple[str, float, int]], tags: dict,
            timestamp_ms: Optional[int] = None) -> None:
        self._event(type="log", run=run_id, params=str_dict(params), metrics=[list(m) for m in metrics],
                    tags=str_dict(tags))

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
        self._event(type="register", run=run_id, name=name, artifact_path=artifact_path, tags=str_dict(tags))
        # Until uploaded, the model is its journalled files: a local URI load_registered_checkpoint reads.
        return (self.session / "files").resolve().as_uri() + f"#run={run_id}&path={artifact_path}"


def str_dict(d: Optional[dict]) -> dict[str, str]:
    out = {}
    for k, v in (d or {}).items():
        out[str(k)] = v if isinstance(v, str) else json.dumps(v, sort_keys=True, default=str)
    return out


def read_events(session: Path) -> list[dict]:
    """The journalled events of one offline session, in order."""
    return [json.loads(p.read_text()) for p in sorted((session / "events").glob("*.json"))]
