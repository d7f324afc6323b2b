"""Tracking from pipeline stages and the CLI: MLflow when it answers, else the offline journal.

A pipeline run journals into one folder (`offline_root`: FCBENCH_OFFLINE_DIR/<run name> unless
given), so every stage of the run writes sessions `fcbench upload-tracking` replays together
(a child of an offline parent finds it there). Once the parent run is offline, every later stage
journals too, even if MLflow came back: its children must name the parent the journal knows.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from fcbench.codecs.common import settings
from fcbench.components.tracking.server import TrackingUnavailableError, check_reachable
from fcbench.components.tracking.tracker import Tracker

OFF = "off"


@dataclass(frozen=True)
class StageTracking:
    """Where a stage's tracking went: the tracker, and how the report should describe it."""

    tracker: Tracker
    uri: str
    offline_dir: Optional[Path]
    reason: str = ""  # why it is offline

    @property
    def offline(self) -> bool:
        return self.tracker.offline

    def note(self) -> str:
        """One Markdown paragraph for the report."""
        if not self.offline:
            return f"Tracking: MLflow at {self.uri}."
        return (f"Tracking: **MLflow was unreachable** ({self.reason or self.uri}); this run was recorded in the "
                f"offline journal `{self.offline_dir}`. Upload it with "
                f"`fcbench upload-tracking {self.offline_dir} --mlflow {self.uri}` once the server answers.")


def offline_root(offline_dir: str, run_name: str = "") -> Optional[Path]:
    """The journal folder of a run: `offline_dir` itself when given, 'off' = none, '' =
    FCBENCH_OFFLINE_DIR/<run name> (one folder per pipeline run)."""
    if offline_dir == OFF:
        return None
    if offline_dir:
        return Path(offline_dir)
    segment = re.sub(r"[^A-Za-z0-9._=+-]+", "-", run_name).strip("-.") or "runs"
    return Path(settings.OFFLINE_DIR.get()) / segment


def stage_tracking(uri: str, offline_dir: str = "", run_name: str = "", parent_run_id: str = "") -> StageTracking:
    """A Tracker for a stage: MLflow at `uri` if it answers, else the run's offline journal
    (unless offline tracking is 'off': then the unreachable server is an error)."""
    root = offline_root(offline_dir, run_name)
    if parent_run_id.startswith("offline-"):
        if root is None:
            raise TrackingUnavailableError(f"the parent run {parent_run_id} is in an offline journal, "
                                           f"but offline tracking is off")
        return StageTracking(Tracker(offline_dir=root), uri, root, "the pipeline's parent run was recorded offline")
    try:
        check_reachable(uri)
    except TrackingUnavailableError as exc:
        if root is None:
            raise
        return StageTracking(Tracker(offline_dir=root), uri, root, str(exc).split(". ")[0])
    return StageTracking(Tracker(tracking_uri=uri), uri, root)


def run_link(tracking: StageTracking, experiment: str, run_id: str) -> str:
    """A browser link to an MLflow run (FCBENCH_MLFLOW_UI_URL, else the tracking URI when it is
    http(s)); '' when offline or not browsable."""
    if tracking.offline or not run_id:
        return ""
    base = settings.MLFLOW_UI_URL.get() or (tracking.uri if tracking.uri.startswith(("http://", "https://")) else "")
    if not base:
        return ""
    exp_id = tracking.tracker.sink.experiment_id(experiment)  # type: ignore[attr-defined]
    return f"{base.rstrip('/')}/#/experiments/{exp_id}/runs/{run_id}"


def kfp_run_link(kfp_run_id: str) -> str:
    """The Kubeflow Pipelines UI page of a run (FCBENCH_KFP_UI_URL), '' when unknown."""
    base = settings.KFP_UI_URL.get()
    return f"{base.rstrip('/')}/#/runs/details/{kfp_run_id}" if base and kfp_run_id else ""
