"""The `full` pipeline: train the hyperpriors, then benchmark them and the traditional codecs
(VTM, x265, ...) together on the same test features, in one report.

    extract (test) ----+--> traditional branch (prepare_coding -> codec x QP -> evaluate)
                       +--> prepare_coding (learned) -> ParallelFor lambda:
    extract (train) ------> hyperprior_train -> hyperprior_infer -> evaluate
                                                   -> report (both fan-ins)
"""
from typing import Any

from kfp import dsl

from fcbench.pipelines.benchmark import (DEFAULT_MODEL, DEFAULT_TASK, MachineArgs, default_codecs, learned_evaluation,
                                         learned_grid, report_step, traditional_branch)
from fcbench.pipelines.train_hyperprior import HYPERPRIOR, TrainArgs


@dsl.pipeline(name="fcbench-full",
              description="Train hyperpriors and benchmark them with the traditional codecs in one RD report.")
def full(
    model: str = DEFAULT_MODEL,
    task: str = DEFAULT_TASK,
    weights_uri: str = "",
    data_uri: str = "",
    sample_list_uri: str = "",
    train_data_uri: str = "",
    train_sample_list_uri: str = "",
    machine_options: str = "{}",
    codecs: list = default_codecs(),
    qps: list = [],
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
    anchor: str = "vtm",
    title: str = "",
    tracking_uri: str = "",
    storage_uri: str = "",
):
    """Training features come from train_data_uri (the reference's separate training inputs);
    qps/lambdas: [] = the test conditions'; 0 epochs and 0 steps = the test conditions' epochs;
    storage_uri: '' = local only, else every stage publishes its outputs there (test features,
    codec outputs, trained models, report; not the training features)."""
    machine = MachineArgs(model, task, weights_uri, data_uri, sample_list_uri, machine_options, storage_uri)
    trainer = MachineArgs(model, task, weights_uri, train_data_uri, train_sample_list_uri, machine_options)
    knobs = TrainArgs(crop, epochs, steps, batch_size, seed, N, M, evaluate, tracking_uri, storage_uri, lr)
    features: Any = machine.extract().outputs["features"]
    train_features: Any = trainer.extract().set_display_name("extract-train").outputs["features"]
    trad = traditional_branch(machine, features, codecs, qps, legacy)
    grid = learned_grid(machine, features, HYPERPRIOR, lambdas, legacy)
    with dsl.ParallelFor(grid.outputs["Output"], name="lambdas") as item:
        trained = knobs.train(train_features, trainer, item.rate_point)
        ev = learned_evaluation(machine, features, item, tracking_uri, checkpoint=trained.outputs["model"])
    report_step(trad, dsl.Collected(ev.outputs["point"]), anchor, title, tracking_uri, storage_uri)
