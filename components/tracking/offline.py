"""Uploading tracking recorded offline (the server was down) into MLflow, resumably and idempotently.

Progress is saved after every event, but an upload can be killed between an MLflow call and that
save; the event is then replayed on resume, so every replay must be harmless twice: a run is
tagged with its offline id and found again instead of created again, metrics carry the journal's
timestamps (MLflow stores an identical metric once), a model version registered from the run is
found again, params/tags/artifacts/end are overwrites of the same values.
"""
from __future__ import annotations

import json
from pathlib import Path

from fcbench.codecs.common.atomic import write_json
from fcbench.codecs.common.types import PathLike
from fcbench.components.tracking.server import check_reachable
from fcbench.components.tracking.sinks import MlflowSink, read_events


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
            events = read_events(session)
            for n in range(state["done"].get(session.name, 0), len(events)):
                if _unknown_runs(events[n], ids):
                    waiting.append(session)
                    break
                _replay(sink, root, events[n], ids)
                state["done"][session.name] = n + 1
                write_json(state_path, state)
                progress = True
        if waiting and not progress:
            waiting_events = [e for s in waiting for e in read_events(s)]
            started = {e["run"] for e in waiting_events if e["type"] == "start_run"}
            missing = sorted({r for e in waiting_events for r in _unknown_runs(e, ids)} - started)
            raise ValueError(f"offline runs in {[s.name for s in waiting]} name run(s) {missing} "
                             f"that no journalled session in {root} started")
        pending = waiting
    return dict(ids)


OFFLINE_RUN_TAG = "fcbench.offline_run"  # the offline id a replayed run was created for


def _unknown_runs(ev: dict, ids: dict[str, str]) -> set[str]:
    refs = {ev.get("parent")} if ev["type"] == "start_run" else {ev["run"]}
    return {r for r in refs if r and r.startswith("offline-") and r not in ids}


def _replay(sink: MlflowSink, root: Path, ev: dict, ids: dict[str, str]) -> None:
    kind, when = ev["type"], ev.get("time")
    if kind == "start_run":
        parent = ids.get(ev["parent"], ev["parent"])
        metrics = [tuple(m) for m in ev.get("metrics", [])]
        existing = sink.find_run(ev["experiment"], OFFLINE_RUN_TAG, ev["run"])
        if existing:  # created by an upload killed before it saved its progress: finish that one
            sink.log(existing, ev["params"], metrics, {}, when)
            ids[ev["run"]] = existing
        else:
            ids[ev["run"]] = sink.start_run(ev["experiment"], ev["name"], parent, ev["params"],
                                            {**ev["tags"], OFFLINE_RUN_TAG: ev["run"]}, metrics, when)
        return
    run = ids.get(ev["run"], ev["run"])
    if kind == "log":
        sink.log(run, ev["params"], [tuple(m) for m in ev["metrics"]], ev["tags"], when)
    elif kind == "artifact":
        sink.log_artifact(run, root / ev["file"], ev["artifact_path"])
    elif kind == "end_run":
        sink.end_run(run, ev["status"])
    elif kind == "register":
        if not sink.find_version(ev["name"], run):
            sink.register(run, ev["name"], ev["artifact_path"], {**ev["tags"], "run_id": run})
    else:
        raise ValueError(f"unknown offline tracking event type {kind!r}")
