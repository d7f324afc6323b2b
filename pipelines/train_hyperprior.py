"""The `train_hyperprior` pipeline: training feature set -> ParallelFor over lambdas ->
hyperprior_train -> one Model artifact per lambda (registered in MLflow when tracking is on).

The lambdas default to the test conditions of the (model, task): prepare_coding lays them
out (with the learned-path conditions and the clipping statistics of the training features).
"""
from dataclasses import dataclass
from typing import Any

from kfp import dsl

from fcbench.components.stages.hyperprior_train import hyperprior_train
from fcbench.pipelines.benchmark import DEFAULT_MODEL, DEFAULT_TASK, MachineArgs, learned_grid, with_features
from fcbench.pipelines.steps import on_gpu

# Trained in the pipeline: the Model artifact (an input of hyperprior_infer) is the identity.
HYPERPRIOR = [{"codec": "hyperprior", "identity_hash": ""}]


@dataclass
class TrainArgs:
    """Training knobs (pipeline parameters); 0 epochs and 0 steps = the test conditions' epochs."""

    crop: Any
    epochs: Any
    steps: Any
    batch_size: Any
    seed: Any
    N: Any
    M: Any
    evaluate: Any
    tracking_uri: Any
    storage_uri: Any = ""  # where each trained model is published ('' = nowhere)
    lr: Any = 1e-4  # Adam learning rate (the reference's 1e-4)

    def train(self, train_features: Any, machine: MachineArgs, lmbda: Any) -> dsl.PipelineTask:
        return on_gpu(hyperprior_train(train_features=train_features, model_name=machine.model, task=machine.task,
                                       lmbda=lmbda, crop=self.crop, epochs=self.epochs, steps=self.steps,
                                       batch_size=self.batch_size, seed=self.seed, N=self.N, M=self.M,
                                       evaluate=self.evaluate, tracking_uri=self.tracking_uri,
                                       storage_uri=self.storage_uri, lr=self.lr))


@dsl.pipeline(name="fcbench-train-hyperprior",
              description="Train one hyperprior per lambda on a training feature set (extracted or imported).")
def train_hyperprior(
    model: str = DEFAULT_MODEL,
    task: str = DEFAULT_TASK,
    weights_uri: str = "",
    train_data_uri: str = "",
    train_sample_list_uri: str = "",
    machine_options: str = "{}",
    train_features_uri: str = "",
    lambdas: list = [],
    crop: list = [256, 256],
    epochs: int = 0,
    steps: int = 0,
    batch_size: int = 128,
    seed: int = 0,
    N: int = 128,
    M: int = 192,
    evaluate: str = "last",
    lr: float = 1e-4,
    legacy: bool = False,
    tracking_uri: str = "",
    storage_uri: str = "",
):
    """lambdas: [] = the test conditions'; train_features_uri: '' = extract the training
    features from train_data_uri with the machine, else import that feature set; storage_uri:
    '' = local only, else each trained model is published to <model>/<task>/hyperprior/lambda<λ>/
    there (the training features are not: the key layout's features/ are the test features)."""
    machine = MachineArgs(model, task, weights_uri, train_data_uri, train_sample_list_uri, machine_options)
    knobs = TrainArgs(crop, epochs, steps, batch_size, seed, N, M, evaluate, tracking_uri, storage_uri, lr)

    def body(train_features: Any) -> None:
        grid = learned_grid(machine, train_features, HYPERPRIOR, lambdas, legacy)
        with dsl.ParallelFor(grid.outputs["Output"], name="lambdas") as item:
            knobs.train(train_features, machine, item.rate_point)

    with_features(machine, train_features_uri, body)
