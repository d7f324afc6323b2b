"""The hyperprior training settings, defined once: `train()`, the `hyperprior_train` component,
the `train_hyperprior` and `full` pipelines and both CLIs (`fcbench hyperprior train`,
`fcbench run`) take exactly these, with these defaults (tests/codecs/hyperprior checks them all).

A setting left unset means "the test conditions" where the conditions define it (epochs, batch,
crop, lr of the task's learned path); the pipelines cannot pass None, so each setting also has
an `unset` value (0, 0.0 or []) that means the same. Only without any test conditions (features
of an unknown model/task, no `task`) do the `fallback` values apply.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional

from fcbench.codecs.conditions import LearnedConditions


@dataclass(frozen=True)
class TrainingSetting:
    name: str  # the keyword in train(), the component and the pipelines
    type: type  # the KFP parameter type
    unset: Any  # the default everywhere: "not given"
    condition: Optional[str]  # the LearnedConditions field used when unset (None: unset is the value)
    fallback: Any  # when unset and no test conditions apply
    help: str

    def is_unset(self, value: Any) -> bool:
        return value is None or (self.condition is not None and value == self.unset)


TRAINING_SETTINGS: tuple[TrainingSetting, ...] = (
    TrainingSetting("crop", list, [], "crop", [256, 256], "training crop [rows, cols]; [] = the test conditions'"),
    TrainingSetting("epochs", int, 0, "epochs", None,
                    "epochs; 0 = the test conditions' (unless steps is given)"),
    TrainingSetting("steps", int, 0, None, 0, "cap on optimizer steps; 0 = no cap"),
    TrainingSetting("batch_size", int, 0, "batch", 8, "batch size; 0 = the test conditions'"),
    TrainingSetting("lr", float, 0.0, "lr", 1e-4, "Adam learning rate; 0 = the test conditions' (1e-4)"),
    TrainingSetting("seed", int, 0, None, 0, "seed of the crops, the split and the initialisation"),
    TrainingSetting("N", int, 128, None, 128, "channels of the analysis and synthesis transforms (128 as the reference; "
                    "fewer: a smaller, faster model, e.g. 8 on a CPU)"),
    TrainingSetting("M", int, 192, None, 192, "channels of the latent the entropy model codes (192 as the reference)"),
    TrainingSetting("evaluate", str, "last", None, "last", "checkpoint to evaluate: last (the reference) or best"),
    TrainingSetting("validation", str, "", None, "", "validation procedure: fcbench (fixed crops, the training batch, "
                    "mean over samples) or reference (batch 64, fresh random crops each epoch, mean of the batch "
                    "losses, as the reference); empty = the preset's (paper: reference)"),
)
VALIDATIONS = ("fcbench", "reference")
BY_NAME: dict[str, TrainingSetting] = {s.name: s for s in TRAINING_SETTINGS}
CROP_MULTIPLE = 64  # the scale hyperprior downsamples 64x (y 16x, z 4x more): crops must divide


def unset_values() -> dict[str, Any]:
    """{name: unset}: the defaults of every signature that takes the training settings."""
    return {s.name: (list(s.unset) if isinstance(s.unset, list) else s.unset) for s in TRAINING_SETTINGS}


def pick(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The training settings among a pipeline's (or a CLI's) parameters."""
    return {s.name: parameters[s.name] for s in TRAINING_SETTINGS}


def resolve(given: Mapping[str, Any], learned: Optional[LearnedConditions]) -> tuple[dict[str, Any], dict[str, str]]:
    """(effective settings, where each came from: "given", "test conditions" or "default").

    `given` may omit settings or hold None / the unset value for them. Epochs come from the
    conditions only when neither epochs nor steps is given (steps alone bound the training)."""
    unknown = sorted(set(given) - set(BY_NAME))
    if unknown:
        raise ValueError(f"unknown training setting(s) {unknown}; known: {', '.join(BY_NAME)}")
    values: dict[str, Any] = {}
    source: dict[str, str] = {}
    for s in TRAINING_SETTINGS:
        value = given.get(s.name)
        if not s.is_unset(value):
            values[s.name], source[s.name] = value, ("default" if value == s.unset else "given")
        elif s.condition is not None and learned is not None and not (s.name == "epochs" and given.get("steps")):
            values[s.name], source[s.name] = getattr(learned, s.condition), "test conditions"
        else:
            values[s.name], source[s.name] = (s.fallback if value is None or s.condition else value), "default"
    values["crop"] = [int(c) for c in values["crop"]]
    if len(values["crop"]) != 2:
        raise ValueError(f"crop must be [rows, cols], got {values['crop']}")
    if any(c < CROP_MULTIPLE or c % CROP_MULTIPLE for c in values["crop"]):
        raise ValueError(f"crop must be multiples of {CROP_MULTIPLE} (the hyperprior's total stride; the reference's "
                         f"crops are too), at least {CROP_MULTIPLE}x{CROP_MULTIPLE}, got {values['crop']}")
    values["steps"] = int(values["steps"] or 0) or None
    if values["epochs"] is not None:
        values["epochs"] = int(values["epochs"])
    if values["epochs"] is None and values["steps"] is None:
        raise ValueError("give epochs or steps (or a task whose test conditions set the epochs)")
    for name in ("epochs", "steps", "batch_size", "N", "M"):
        if values[name] is not None and int(values[name]) < 1:
            raise ValueError(f"{name} must be >= 1, got {values[name]}")
    if not float(values["lr"]) > 0:
        raise ValueError(f"lr must be positive, got {values['lr']}")
    if values["evaluate"] not in ("last", "best"):
        raise ValueError(f"evaluate must be 'last' or 'best', got {values['evaluate']!r}")
    if values["validation"] not in ("", *VALIDATIONS):
        raise ValueError(f"validation must be one of {VALIDATIONS} (or empty: the preset's), got {values['validation']!r}")
    return values, source
