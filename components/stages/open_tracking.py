"""KFP component `open_tracking`: the pipeline's MLflow parent run, opened when the run starts.

Tagged with the KFP run id and name and a link back to the run in the Kubeflow UI; training runs
become its children, the report stage logs the RD points and the report into it and closes it.
With MLflow unreachable it is opened in the run's offline journal (components/tracking/stage.py)
and the rest of the run journals there too. Outputs the parent run id ('' = tracking off).
"""
from kfp.dsl import Markdown, Output

from fcbench.components.stages import container_images

KFP_RUN_ID_TAG, KFP_RUN_NAME_TAG, KFP_RUN_URL_TAG = "kfp.run_id", "kfp.run_name", "kfp.run_url"


def open_parent_run(model: str, task: str, pipeline: str, tracking_uri: str, offline_dir: str,
                    kfp_run_id: str, kfp_run_name: str, params: dict) -> tuple[str, str]:
    """Plain-function body: (parent run id or '', a Markdown line saying where it is)."""
    from fcbench.components.stages.context import stage_context
    from fcbench.components.tracking import experiment_name, stage_tracking_uri
    from fcbench.components.tracking.stage import kfp_run_link, run_link, stage_tracking

    with stage_context("open_tracking", model=model, task=task):
        uri = stage_tracking_uri(tracking_uri)
        if not uri:
            return "", "Tracking is off for this run."
        tracking = stage_tracking(uri, offline_dir, kfp_run_name)
        tags = {KFP_RUN_ID_TAG: kfp_run_id, KFP_RUN_NAME_TAG: kfp_run_name, "kfp.pipeline": pipeline}
        link = kfp_run_link(kfp_run_id)
        if link:
            tags[KFP_RUN_URL_TAG] = link
        run = tracking.tracker.open_pipeline_run(model, task, params=params, tags=tags, run_name=kfp_run_name or None)
        mlflow_link = run_link(tracking, experiment_name(model, task), run.run_id)
        where = f"MLflow run [{run.run_id}]({mlflow_link})" if mlflow_link else f"MLflow run {run.run_id}"
        return run.run_id, f"{where}\n\n{tracking.note()}\n"


@container_images.component("codec")
def open_tracking(model: str, task: str, pipeline: str, tracking_uri: str, offline_dir: str, kfp_run_id: str,
                  kfp_run_name: str, params: dict, tracking: Output[Markdown]) -> str:
    """Open the pipeline's MLflow parent run (or journal it offline); returns its id."""
    from fcbench.codecs.common import atomic
    from fcbench.components.stages.open_tracking import open_parent_run

    run_id, note = open_parent_run(model, task, pipeline, tracking_uri, offline_dir, kfp_run_id, kfp_run_name, params)
    atomic.write_bytes(tracking.path, note.encode())
    return run_id
