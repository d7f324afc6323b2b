"""The `train_hyperprior` pipeline: training feature set -> ParallelFor over lambdas ->
hyperprior_train -> one Model artifact per lambda (registered in MLflow when tracking is on).

The lambdas default to the test conditions of the (model, task): prepare_coding lays them
out (with the learned-path conditions and the clipping statistics of the training features).
The training settings (crop, epochs, steps, batch_size, lr, seed, N, M, evaluate) are those of
fcbench.codecs.hyperprior.training_settings; left at their defaults they are the test conditions'.
"""
from typing import Any

from kfp import dsl

from fcbench.codecs.hyperprior import training_settings
from fcbench.components.stages.hyperprior_train import hyperprior_train
from fcbench.pipelines.benchmark import MachineArgs, learned_grid, with_features
from fcbench.pipelines.parameters import DEFAULTS
from fcbench.pipelines.steps import on_gpu

# Trained in the pipeline: the Model artifact (an input of hyperprior_infer) is the identity.
HYPERPRIOR = [{"codec": "hyperprior", "identity_hash": ""}]


def train_step(train_features: Any, machine: MachineArgs, lmbda: Any, training: dict, tracking_uri: Any,
               storage_uri: Any = "") -> dsl.PipelineTask:
    """hyperprior_train for one lambda; `training`: the pipeline's training settings
    (training_settings.pick of its parameters); `storage_uri`: where the model is published."""
    return on_gpu(hyperprior_train(train_features=train_features, model_name=machine.model, task=machine.task,
                                   lmbda=lmbda, tracking_uri=tracking_uri, storage_uri=storage_uri, **training))


@dsl.pipeline(name="fcbench-train-hyperprior",
              description="Train one hyperprior per lambda on a training feature set (extracted or imported).")
def train_hyperprior(
    model: str = DEFAULTS["model"],
    task: str = DEFAULTS["task"],
    weights_uri: str = DEFAULTS["weights_uri"],
    train_data_uri: str = DEFAULTS["train_data_uri"],
    train_sample_list_uri: str = DEFAULTS["train_sample_list_uri"],
    machine_options: str = DEFAULTS["machine_options"],
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
    legacy: bool = DEFAULTS["legacy"],
    tracking_uri: str = DEFAULTS["tracking_uri"],
    storage_uri: str = DEFAULTS["storage_uri"],
):
    """lambdas: [] = the test conditions'; crop, epochs, batch_size, lr: [] / 0 = the test
    conditions'; train_features_uri: '' = extract the training features from train_data_uri
    with the machine, else import that feature set; storage_uri: '' = local only, else each
    trained model is published to <model>/<task>/hyperprior/lambda<λ>/ there (the training
    features are not: the key layout's features/ are the test features)."""
    training = training_settings.pick(locals())
    machine = MachineArgs(model, task, weights_uri, train_data_uri, train_sample_list_uri, machine_options)

    def body(train_features: Any) -> None:
        grid = learned_grid(machine, train_features, HYPERPRIOR, lambdas, legacy)
        with dsl.ParallelFor(grid.outputs["Output"], name="lambdas") as item:
            train_step(train_features, machine, item.rate_point, training, tracking_uri, storage_uri)

    with_features(machine, train_features_uri, body)
