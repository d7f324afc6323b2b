"""The `full` pipeline: train the hyperpriors, then benchmark them and the traditional codecs
(VTM, x265, ...) together on the same test features, in one report.

    extract (test) ----+--> traditional branch (prepare_coding -> ParallelFor codec x QP: code_traditional)
                       +--> prepare_coding (learned) -> ParallelFor lambda:
    extract (train) ------> hyperprior_train -> hyperprior_infer
                                 -> evaluate (both fan-ins, one machine) -> report
"""
from typing import Any

from kfp import dsl

from fcbench.codecs.hyperprior import training_settings
from fcbench.pipelines.benchmark import (Coded, MachineArgs, default_codecs, learned_coding, learned_grid, report_step,
                                         traditional_branch)
from fcbench.pipelines.parameters import DEFAULTS
from fcbench.pipelines.train_hyperprior import HYPERPRIOR, train_step


@dsl.pipeline(name="fcbench-full",
              description="Train hyperpriors and benchmark them with the traditional codecs in one RD report.")
def full(
    model: str = DEFAULTS["model"],
    task: str = DEFAULTS["task"],
    weights_uri: str = DEFAULTS["weights_uri"],
    data_uri: str = DEFAULTS["data_uri"],
    sample_list_uri: str = DEFAULTS["sample_list_uri"],
    train_data_uri: str = DEFAULTS["train_data_uri"],
    train_sample_list_uri: str = DEFAULTS["train_sample_list_uri"],
    machine_options: str = DEFAULTS["machine_options"],
    codecs: list = default_codecs(),
    qps: list = DEFAULTS["qps"],
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
    preset: str = DEFAULTS["preset"],
    anchor: str = DEFAULTS["anchor"],
    title: str = DEFAULTS["title"],
    tracking_uri: str = DEFAULTS["tracking_uri"],
    storage_uri: str = DEFAULTS["storage_uri"],
):
    """Training features come from train_data_uri (the reference's separate training inputs);
    qps/lambdas: [] = the test conditions'; crop, epochs, batch_size, lr: [] / 0 = the test
    conditions' (steps alone bound the training when given); storage_uri: '' = local only, else
    every stage publishes its outputs there (test features, codec outputs, trained models,
    report; not the training features); preset: fcbench or paper (docs/test-conditions.md §7),
    anchor '' = the preset's."""
    training = training_settings.pick(locals())
    machine = MachineArgs(model, task, weights_uri, data_uri, sample_list_uri, machine_options, storage_uri, preset)
    trainer = MachineArgs(model, task, weights_uri, train_data_uri, train_sample_list_uri, machine_options)
    features: Any = machine.extract().outputs["features"]
    train_features: Any = trainer.extract().set_display_name("extract-train").outputs["features"]
    trad = traditional_branch(machine, features, codecs, qps, legacy)
    grid = learned_grid(machine, features, HYPERPRIOR, lambdas, legacy)
    with dsl.ParallelFor(grid.outputs["Output"], name="lambdas") as item:
        trained = train_step(train_features, trainer, item.rate_point, training, tracking_uri, storage_uri)
        inf = learned_coding(machine, features, item, tracking_uri, checkpoint=trained.outputs["model"])
    report_step(machine.evaluate(features, trad, Coded.collect(inf)), anchor, title, tracking_uri, storage_uri,
                preset)
