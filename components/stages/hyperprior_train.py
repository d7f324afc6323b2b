"""KFP component `hyperprior_train`: train one hyperprior (one lambda) on a training feature set
-> Model artifact (the evaluated checkpoint) + loss curves.

Runs in the GPU image and requests a GPU in the pipelines. Every knob that changes the model is
an explicit input: task, lambda and the training settings of
fcbench.codecs.hyperprior.training_settings (crop, epochs, steps, batch_size, lr, seed, N, M,
evaluate), whose unset values (0, 0.0, []) mean the test conditions' values. The signature
repeats their defaults as literals (KFP runs the function's own source), and a test checks them
against the definition.
"""
from typing import Any

from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output

from fcbench.components.stages import container_images


def train_model(features_dir: str, model_name: str, task: str, lmbda: float, checkpoint_path: str, curves_dir: str,
                device: str = "auto", tracking_uri: str = "", storage_uri: str = "", parent_run_id: str = "",
                offline_dir: str = "", run_name: str = "", preset: str = "", **settings: Any) -> dict:
    """Plain-function body: trains in a work folder beside the outputs, then moves the evaluated
    checkpoint to `checkpoint_path` and the curves (JSON + PNG) to `curves_dir`. `settings`: the
    training settings, unset ones = the test conditions' of `task` (validation: the `preset`'s). The run (with tracking) logs
    every effective setting as an MLflow param; it is a child of `parent_run_id` (the pipeline's
    MLflow run), and with MLflow unreachable it goes to the run's offline journal
    (components/tracking/stage.py). With a `storage_uri` the checkpoint (model.pt) and the curves
    (curves/) are also published under <model>/<task>/hyperprior/lambda<λ>/ there."""
    import hashlib
    import json
    import shutil
    import tempfile
    from pathlib import Path

    from fcbench.codecs.common import atomic
    from fcbench.codecs.common import settings as env_settings
    from fcbench.codecs.hyperprior import train
    from fcbench.codecs.hyperprior.training_settings import BY_NAME, unset_values
    from fcbench.components.stages.context import stage_context
    from fcbench.components.storage.keys import artifact_key
    from fcbench.components.storage.publish import publish
    from fcbench.components.tracking.server import stage_tracking_uri

    with stage_context("hyperprior_train", model=model_name, task=task, rate_point=lmbda):
        unknown = sorted(set(settings) - set(BY_NAME))
        if unknown:
            raise ValueError(f"unknown training setting(s) {unknown}; known: {', '.join(BY_NAME)}")
        out = Path(checkpoint_path)
        out.parent.mkdir(parents=True, exist_ok=True)
        # A persistent cache folder lets a retried training task resume from its last epoch;
        # the folder is keyed by the features and every knob, so only the same training resumes.
        persistent = env_settings.CACHE_DIR.get()
        knobs = {**unset_values(), **settings, "model": model_name, "task": task, "lambda": float(lmbda),
                 "preset": preset,
                 "features": hashlib.sha256((Path(features_dir) / "manifest.json").read_bytes()).hexdigest()}
        key = hashlib.sha256(json.dumps(knobs, sort_keys=True, default=str).encode()).hexdigest()[:24]
        work = (persistent / "hyperprior" / key if persistent
                else Path(tempfile.mkdtemp(prefix=".train-", dir=out.parent)))
        result = train(features_dir, work, float(lmbda), task=task, device=device, preset=preset or None, **settings)
        atomic.write_bytes(out, Path(result.checkpoint).read_bytes())
        curves = Path(curves_dir)
        curves.mkdir(parents=True, exist_ok=True)
        atomic.write_json(curves / "curves.json", result.curves)
        if result.plot and Path(result.plot).is_file():
            atomic.write_bytes(curves / "curves.png", Path(result.plot).read_bytes())
        info = {"lmbda": float(lmbda), "task": task, "model": model_name, "settings": result.config["settings"],
                "settings_source": result.config["settings_source"], "epochs_run": len(result.curves),
                "last": result.curves[-1] if result.curves else {}}
        uri = stage_tracking_uri(tracking_uri)
        if uri:
            from fcbench.components.tracking.stage import stage_tracking

            tracking = stage_tracking(uri, offline_dir, run_name, parent_run_id)
            info["model_uri"] = tracking.tracker.log_training(
                model_name, task, float(lmbda), result.curves, str(out), result.config,
                parent_run_id=parent_run_id or None)
            if tracking.offline:
                info["offline_tracking"] = str(tracking.offline_dir)
        if storage_uri:
            key = artifact_key(model_name, task, "hyperprior", rate_point=float(lmbda))
            publish(storage_uri, curves, key + "curves/")
            # The checkpoint last: whoever finds model.pt finds the curves beside it.
            info["storage_uri"] = publish(storage_uri, out, key, "model.pt")
        if not persistent:
            shutil.rmtree(work, ignore_errors=True)
        return info


@container_images.component("gpu")
def hyperprior_train(train_features: Input[Dataset], model_name: str, task: str, lmbda: float,
                     tracking_uri: str, model: Output[Model], curves: Output[Artifact], metrics: Output[Metrics],
                     storage_uri: str = "", crop: list = [], epochs: int = 0, steps: int = 0, batch_size: int = 0,
                     lr: float = 0.0, seed: int = 0, N: int = 128, M: int = 192, evaluate: str = "last",
                     validation: str = "", parent_run_id: str = "", offline_dir: str = "", run_name: str = "",
                     preset: str = ""):
    """Train the hyperprior for one lambda (GPU when the node has one); unset settings = the test
    conditions' of the task; the MLflow run is a child of the pipeline's parent run."""
    from fcbench.components.stages.hyperprior_train import train_model
    from fcbench.components.stages.params import log_metrics

    info = train_model(train_features.path, model_name, task, lmbda, model.path, curves.path, "auto", tracking_uri,
                       storage_uri, parent_run_id, offline_dir, run_name, crop=crop, epochs=epochs, steps=steps,
                       batch_size=batch_size, lr=lr, seed=seed, N=N, M=M, evaluate=evaluate, validation=validation,
                       preset=preset)
    model.metadata.update({k: v for k, v in info.items() if k != "last"})
    last = {k: v for k, v in info["last"].items() if k not in ("epoch", "step")}
    log_metrics(metrics, {f"lambda{float(lmbda):g}_{k}": v for k, v in last.items()})
