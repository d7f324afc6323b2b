"""Reading fcbench runs back from MLflow: the RD points of a pipeline run."""
from __future__ import annotations

import json
import re
from typing import Optional, Union

from fcbench.components.rd_points import RDPoint
from fcbench.components.tracking.layout import KIND_TAG, POINT_TAG
from fcbench.components.tracking.server import check_reachable
from fcbench.components.tracking.sinks import MlflowSink


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
