"""The `fit_klt` pipeline: training feature set (extracted or imported) -> klt_fit -> the klt
codec's table as a Model artifact, published (storage_uri) and registered in MLflow (a child of
the pipeline's parent run). Benchmark it with a codec entry {"codec": "klt", "options":
{"table": "s3://.../<model>/<task>/klt/table.npz" or "models:/fcbench-<model>-<task>-klt/<version>"}}.
"""
from typing import Any, Callable, Optional

from kfp import dsl

from fcbench.components.stages.klt_fit import klt_fit
from fcbench.pipelines import deployment
from fcbench.pipelines.benchmark import MachineArgs, make_pipeline, open_run_tracking, with_features
from fcbench.pipelines.deployment import Deployment
from fcbench.pipelines.parameters import DEFAULTS
from fcbench.pipelines.steps import deploy


def build_fit_klt(dep: Optional[Deployment] = None) -> Callable:
    """The fit_klt pipeline built under `dep` (default: deployment.DEFAULT)."""
    name = "fcbench-fit-klt"
    dep = dep or deployment.DEFAULT

    def fit_klt(
        model: str = DEFAULTS["model"],
        task: str = DEFAULTS["task"],
        weights_uri: str = DEFAULTS["weights_uri"],
        train_data_uri: str = DEFAULTS["train_data_uri"],
        train_sample_list_uri: str = DEFAULTS["train_sample_list_uri"],
        machine_options: dict = DEFAULTS["machine_options"],
        train_features_uri: str = DEFAULTS["train_features_uri"],
        klt_components: int = DEFAULTS["klt_components"],
        klt_shrinkage: float = DEFAULTS["klt_shrinkage"],
        tracking_uri: str = DEFAULTS["tracking_uri"],
        offline_dir: str = DEFAULTS["offline_dir"],
        storage_uri: str = DEFAULTS["storage_uri"],
    ):
        machine = MachineArgs(model, task, weights_uri, train_data_uri, train_sample_list_uri, machine_options)
        tracking = open_run_tracking(name, model, task, tracking_uri, offline_dir)

        def body(train_features: Any) -> None:
            deploy(klt_fit(train_features=train_features, model_name=model, task=task, storage_uri=storage_uri,
                           tracking_uri=tracking.tracking_uri, parent_run_id=tracking.parent_run_id,
                           offline_dir=tracking.offline_dir, run_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
                           components=klt_components, shrinkage=klt_shrinkage), "klt_fit")

        with_features(machine, train_features_uri, body)

    summary = ("Fit the klt codec's table (channel KLT and entropy-model priors) on a training feature set (extracted "
               "or imported); it is published (storage_uri) and registered in MLflow.")
    return make_pipeline(name, summary, fit_klt, dep, build_fit_klt, outputs=False)


fit_klt = build_fit_klt()
