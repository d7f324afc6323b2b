"""How fcbench runs are laid out in MLflow: experiment and registered-model names, tags, limits.

Experiment "fcbench/<model>/<task>"; a parent run per pipeline run; a nested child run per
(codec, rate point); a run per hyperprior training, whose checkpoint becomes a new version of the
registered model "fcbench-<model>-<task>-hyperprior-lambda<lambda>".
"""
from __future__ import annotations

KIND_TAG = "fcbench.kind"  # pipeline | point | training
POINT_TAG = "fcbench.point"  # the RDPoint as JSON, so reports rebuild points exactly
MAX_TAG_CHARS = 7500  # MLflow caps tag values at 8000 characters
MAX_PARAM_CHARS = 6000  # ... and param values at 6000 (longer ones it would truncate)


def experiment_name(model: str, task: str) -> str:
    return f"fcbench/{model}/{task}"


def registered_model_name(model: str, task: str, lmbda: float) -> str:
    return f"fcbench-{model}-{task}-hyperprior-lambda{float(lmbda):g}"
