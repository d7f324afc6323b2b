"""The `full` pipeline: train the hyperpriors, then benchmark them and the traditional codecs
(VTM, x265, ...) together on the same test features, in one report.

    open_tracking, resolve_codecs
    extract (test) ----+--> traditional branch (prepare_coding -> ParallelFor codec x QP: code_traditional)
                       +--> prepare_coding (learned) -> ParallelFor lambda:
    extract (train) ------> hyperprior_train -> hyperprior_infer
                                 -> evaluate (both fan-ins, one machine) -> report -> pipeline outputs
"""
from typing import Any, Callable, Optional

from kfp import dsl

from fcbench.codecs.hyperprior import training_settings
from fcbench.pipelines import deployment
from fcbench.pipelines.benchmark import (
    Coded,
    MachineArgs,
    learned_coding,
    learned_grid,
    make_pipeline,
    open_run_tracking,
    report_outputs,
    report_step,
    resolved_codecs,
    traditional_branch,
)
from fcbench.pipelines.deployment import Deployment
from fcbench.pipelines.parameters import DEFAULTS
from fcbench.pipelines.steps import parallelism
from fcbench.pipelines.train_hyperprior import HYPERPRIOR, train_step


def build_full(dep: Optional[Deployment] = None) -> Callable:
    """The full pipeline built under `dep` (default: deployment.DEFAULT)."""
    name = "fcbench-full"
    dep = dep or deployment.DEFAULT

    def full(
        model: str = DEFAULTS["model"],
        task: str = DEFAULTS["task"],
        weights_uri: str = DEFAULTS["weights_uri"],
        data_uri: str = DEFAULTS["data_uri"],
        sample_list_uri: str = DEFAULTS["sample_list_uri"],
        train_data_uri: str = DEFAULTS["train_data_uri"],
        train_sample_list_uri: str = DEFAULTS["train_sample_list_uri"],
        machine_options: dict = DEFAULTS["machine_options"],
        codecs: list = DEFAULTS["codecs"],
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
        validation: str = DEFAULTS["validation"],
        quantization: str = DEFAULTS["quantization"],
        preset: str = DEFAULTS["preset"],
        anchor: str = DEFAULTS["anchor"],
        title: str = DEFAULTS["title"],
        tracking_uri: str = DEFAULTS["tracking_uri"],
        offline_dir: str = DEFAULTS["offline_dir"],
        storage_uri: str = DEFAULTS["storage_uri"],
    ):
        training = training_settings.pick(locals())
        machine = MachineArgs(model, task, weights_uri, data_uri, sample_list_uri, machine_options, storage_uri, preset)
        trainer = MachineArgs(model, task, weights_uri, train_data_uri, train_sample_list_uri, machine_options)
        tracking = open_run_tracking(name, model, task, tracking_uri, offline_dir)
        features: Any = machine.extract().outputs["features"]
        train_features: Any = trainer.extract().set_display_name("extract-train").outputs["features"]
        trad = traditional_branch(machine, features, resolved_codecs(codecs), qps, quantization)
        grid = learned_grid(machine, features, HYPERPRIOR, lambdas, quantization)
        with dsl.ParallelFor(grid.outputs["Output"], name="lambdas", parallelism=parallelism()) as item:
            trained = train_step(train_features, trainer, item.rate_point, training, tracking, storage_uri, preset)
            inf = learned_coding(machine, features, item, tracking_uri, checkpoint=trained.outputs["model"])
        rep = report_step(machine.evaluate(features, trad, Coded.collect(inf)), anchor, title, tracking, storage_uri,
                          preset)
        if not dep.local:
            return report_outputs([rep])

    summary = ("Train hyperpriors and benchmark them with the traditional codecs in one RD report (training "
               "features from train_data_uri, test features from data_uri; training settings left at 0 / [] are "
               "the test conditions').")
    return make_pipeline(name, summary, full, dep, build_full, outputs=True)


full = build_full()
