"""MLflow tracking of fcbench runs, with a fail-fast reachability check and an offline journal.

One concern per module:
    server    the tracking URI and the fail-fast probe     layout   experiment/model names, tags
    sinks     MLflow and the offline journal                tracker  Tracker, report_to_run
    runs      reading RD points back from MLflow            registry registered checkpoint download
    offline   replaying an offline journal into MLflow
MLflow itself is imported only when a sink is made.
"""
from fcbench.components.tracking.layout import KIND_TAG, POINT_TAG, experiment_name, registered_model_name
from fcbench.components.tracking.offline import upload_offline
from fcbench.components.tracking.registry import load_registered_checkpoint
from fcbench.components.tracking.runs import pipeline_points, points_from_mlflow
from fcbench.components.tracking.server import TrackingUnavailableError, check_reachable, default_tracking_uri, sqlite_db_path, stage_tracking_uri
from fcbench.components.tracking.sinks import MlflowSink, OfflineSink, Sink
from fcbench.components.tracking.tracker import PipelineRun, Tracker, report_to_run

__all__ = [
    "KIND_TAG", "MlflowSink", "OfflineSink", "POINT_TAG", "PipelineRun", "Sink", "Tracker", "TrackingUnavailableError",
    "check_reachable", "default_tracking_uri", "experiment_name", "load_registered_checkpoint", "pipeline_points",
    "points_from_mlflow", "registered_model_name", "report_to_run", "sqlite_db_path", "stage_tracking_uri",
    "upload_offline",
]
