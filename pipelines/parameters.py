"""The pipeline parameters, defined once: name, type, default and meaning.

`benchmark`, `benchmark-traditional`, `train_hyperprior` and `full` take subsets of these; their
signatures use `DEFAULTS[...]` and tests/pipelines/test_parameters.py checks that every compiled
pipeline agrees with this table (name, type, default). The meaning becomes each parameter's
description in the IR (`describe`: KFP reads the docstring's `Args:`), which the Kubeflow UI shows
in the run form. No default depends on the machine that compiles (the codec identities are
resolved in the image). The training settings come from
fcbench.codecs.hyperprior.training_settings, the one definition the component and the CLIs share.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable

from fcbench.codecs.hyperprior.training_settings import TRAINING_SETTINGS


@dataclass(frozen=True)
class Parameter:
    name: str
    type: type
    default: Any  # None: computed where the pipeline is built (see `codecs`)
    help: str


_PARAMETERS: tuple[Parameter, ...] = (
    Parameter("model", str, "dinov2", "Machine whose features are coded: dinov2, llama3 or sd3."),
    Parameter("task", str, "cls", "Task of the machine: cls, seg, dpt (dinov2), csr (llama3), tti (sd3)."),
    Parameter("weights_uri", str, "", "Model weights: s3://bucket/key/ (a folder) or a path inside the image "
              "(docs/machines.md names the files each machine reads)."),
    Parameter("data_uri", str, "", "Test data root (images, prompts, captions): s3://bucket/key/ or a path inside the "
              "image."),
    Parameter("sample_list_uri", str, "", "Custom sample list (s3:// or path); empty = the task's official list."),
    Parameter("machine_options", dict, {}, "Options of the machine, e.g. {\"dtype\": \"bfloat16\"}; {} = its defaults."),
    Parameter("features_uri", str, "", "Import this feature set (s3:// folder) instead of extracting; empty = extract "
              "with the machine."),
    Parameter("train_data_uri", str, "", "Training data root the hyperprior training features are extracted from "
              "(the reference's separate training inputs)."),
    Parameter("train_sample_list_uri", str, "", "Sample list of the training data; empty = every sample found."),
    Parameter("train_features_uri", str, "", "Import this training feature set (s3:// folder) instead of "
              "extracting; empty = extract from train_data_uri."),
    Parameter("codecs", list, ["x265", "av1"], "Traditional codecs (default: the two every machine has, in-process; "
              "av1 codes the CRFs the QPs map to), e.g. [\"x265\", \"vtm\"], or entries {\"codec\": NAME, "
              "\"options\": {...}, \"chain\": {...}, \"identity_hash\": PIN}. Each codec's identity (version, binary "
              "and cfg sha256) is resolved in the codec image when the run starts and recorded with the results; "
              "a pinned identity_hash fails the run if the image's build differs. chain: {} = the paper's chain "
              "(docs/codecs.md)."),
    Parameter("qps", list, [], "QPs of the traditional codecs, e.g. [22, 27, 32, 37, 42]; [] = the test conditions'."),
    Parameter("lambdas", list, [], "Lambdas of the hyperpriors to train; [] = the test conditions'."),
    Parameter("hyperprior", list, [], "Trained hyperpriors to benchmark: [{\"codec\": \"hyperprior\", \"rate_point\": "
              "LAMBDA, \"uri\": \"models:/NAME/VERSION\" or s3://... or a path, \"identity_hash\": \"\"}]."),
    Parameter("quantization", str, "", "round (to nearest) or legacy (the reference's floor); empty = the preset's "
              "(fcbench: round, paper: legacy)."),
    Parameter("preset", str, "fcbench", "fcbench or paper (the reference chain: floor quantization, VTM as codec "
              "and anchor; docs/test-conditions.md section 7), named in every result. With paper, list vtm in codecs."),
    Parameter("anchor", str, "", "Codec every other codec's BD-rate is measured against; empty = the preset's (vtm)."),
    Parameter("title", str, "", "Title of the report; empty = a default."),
    Parameter("tracking_uri", str, "", "MLflow tracking URI; empty = the cluster's (MLFLOW_TRACKING_URI of the "
              "fcbench-endpoints ConfigMap); off = no tracking."),
    Parameter("offline_dir", str, "", "Where tracking is journalled while MLflow is unreachable (upload later "
              "with fcbench upload-tracking); empty = the run's folder in FCBENCH_OFFLINE_DIR (the cache volume on a "
              "cluster); off = fail instead."),
    Parameter("storage_uri", str, "", "Also publish every stage's outputs here (s3://bucket/prefix); empty = only "
              "the KFP artifacts."),
    *(Parameter(s.name, s.type, s.unset, s.help) for s in TRAINING_SETTINGS),
    Parameter("klt_components", int, 0, "Components the klt table keeps per group; 0 = all."),
    Parameter("klt_shrinkage", float, 0.0, "Blend of the klt covariance towards its diagonal (0..1) before the "
              "eigendecomposition."),
)
PARAMETERS: dict[str, Parameter] = {p.name: p for p in _PARAMETERS}


class _Defaults(dict):
    """DEFAULTS[name]: a fresh copy of the default (lists are not shared between signatures)."""

    def __getitem__(self, name: str) -> Any:
        return copy.deepcopy(super().__getitem__(name))


DEFAULTS: dict[str, Any] = _Defaults({p.name: p.default for p in _PARAMETERS})


def describe(summary: str) -> Callable[[Callable], Callable]:
    """Give a pipeline function a docstring: `summary` and an `Args:` entry per parameter (the
    meaning from the table), which KFP compiles into each parameter's description."""

    def apply(func: Callable) -> Callable:
        import inspect

        names = list(inspect.signature(func).parameters)
        missing = [n for n in names if n not in PARAMETERS]
        if missing:
            raise KeyError(f"pipeline {func.__name__}: parameter(s) {missing} are not in pipelines/parameters.py")
        args = "\n".join(f"    {n}: {' '.join(PARAMETERS[n].help.split())}" for n in names)
        func.__doc__ = f"{summary}\n\nArgs:\n{args}\n"
        return func

    return apply
