"""The `train_hyperprior` pipeline: training feature set -> ParallelFor over lambdas ->
hyperprior_train -> one Model artifact per lambda (registered in MLflow, as children of the
pipeline's parent run, when tracking is on).

The lambdas default to the test conditions of the (model, task): prepare_coding lays them
out (with the learned-path conditions and the clipping statistics of the training features).
The training settings (crop, epochs, steps, batch_size, lr, seed, N, M, evaluate) are those of
fcbench.codecs.hyperprior.training_settings; left at their defaults they are the test conditions'.
"""
from typing import Any, Callable, Optional

from kfp import dsl

from fcbench.codecs.hyperprior import training_settings
from fcbench.components.stages.hyperprior_train import hyperprior_train
from fcbench.pipelines import deployment
from fcbench.pipelines.benchmark import MachineArgs, Tracking, learned_grid, make_pipeline, open_run_tracking, with_features
from fcbench.pipelines.deployment import Deployment
from fcbench.pipelines.parameters import DEFAULTS
from fcbench.pipelines.steps import deploy, parallelism

# Trained in the pipeline: the Model artifact (an input of hyperprior_infer) is the identity.
HYPERPRIOR = [{"codec": "hyperprior", "identity_hash": ""}]


def train_step(train_features: Any, machine: MachineArgs, lmbda: Any, training: dict, tracking: Tracking,
               storage_uri: Any = "", preset: Any = "") -> dsl.PipelineTask:
    """hyperprior_train for one lambda; `training`: the pipeline's training settings
    (training_settings.pick of its parameters); `tracking`: the parent run its MLflow run joins;
    `storage_uri`: where the model is published; `preset`: whose validation procedure applies
    when `validation` is unset."""
    return deploy(hyperprior_train(train_features=train_features, model_name=machine.model, task=machine.task,
                                   lmbda=lmbda, tracking_uri=tracking.tracking_uri, storage_uri=storage_uri,
                                   parent_run_id=tracking.parent_run_id, offline_dir=tracking.offline_dir,
                                   run_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER, preset=preset, **training),
                  "hyperprior_train")


def build_train_hyperprior(dep: Optional[Deployment] = None) -> Callable:
    """The train_hyperprior pipeline built under `dep` (default: deployment.DEFAULT)."""
    name = "fcbench-train-hyperprior"
    dep = dep or deployment.DEFAULT

    def train_hyperprior(
        model: str = DEFAULTS["model"],
        task: str = DEFAULTS["task"],
        weights_uri: str = DEFAULTS["weights_uri"],
        train_data_uri: str = DEFAULTS["train_data_uri"],
        train_sample_list_uri: str = DEFAULTS["train_sample_list_uri"],
        machine_options: dict = DEFAULTS["machine_options"],
        train_features_uri: str = DEFAULTS["train_features_uri"],
        lambdas: list = DEFAULTS["lambdas"],
        crop: list = DEFAULTS["crop"],
        epochs: int = DEFAULTS["epochs"],
        steps: int = DEFAULTS["steps"],
        batch_size: int = DEFAULTS["batch_size"],
        lr: float = DEFAULTS["lr"],
        seed: int = DEFAULTS["seed"],
        N: int = DEFAULTS["N"],
        M: int = DEFAULTS["M"],
        evaluate: str = DEFAULTS["evaluate"],
        validation: str = DEFAULTS["validation"],
        preset: str = DEFAULTS["preset"],
        quantization: str = DEFAULTS["quantization"],
        tracking_uri: str = DEFAULTS["tracking_uri"],
        offline_dir: str = DEFAULTS["offline_dir"],
        storage_uri: str = DEFAULTS["storage_uri"],
    ):
        training = training_settings.pick(locals())
        machine = MachineArgs(model, task, weights_uri, train_data_uri, train_sample_list_uri, machine_options)
        tracking = open_run_tracking(name, model, task, tracking_uri, offline_dir)

        def body(train_features: Any) -> None:
            grid = learned_grid(machine, train_features, HYPERPRIOR, lambdas, quantization)
            with dsl.ParallelFor(grid.outputs["Output"], name="lambdas", parallelism=parallelism()) as item:
                train_step(train_features, machine, item.rate_point, training, tracking, storage_uri, preset)

        with_features(machine, train_features_uri, body)

    summary = ("Train one hyperprior per lambda on a training feature set (extracted or imported); each model is "
               "published (storage_uri) and registered in MLflow. Training settings left at 0 / [] are the test "
               "conditions'.")
    return make_pipeline(name, summary, train_hyperprior, dep, build_train_hyperprior, outputs=False)


train_hyperprior = build_train_hyperprior()
