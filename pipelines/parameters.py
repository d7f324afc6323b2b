"""The pipeline parameters, defined once: name, type, default and meaning.

`benchmark`, `benchmark-traditional`, `train_hyperprior` and `full` take subsets of these; their
signatures use `DEFAULTS[...]` and tests/pipelines/test_parameters.py checks that every compiled
pipeline agrees with this table (name, type, default). The training settings come from
fcbench.codecs.hyperprior.training_settings, the one definition the component and the CLIs share.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from fcbench.codecs.hyperprior.training_settings import TRAINING_SETTINGS


@dataclass(frozen=True)
class Parameter:
    name: str
    type: type
    default: Any  # None: computed where the pipeline is built (see `codecs`)
    help: str


_PARAMETERS: tuple[Parameter, ...] = (
    Parameter("model", str, "dinov2", "model of the test conditions (dinov2, llama3, sd3)"),
    Parameter("task", str, "cls", "task of the test conditions (cls, seg, dpt, csr, tti)"),
    Parameter("weights_uri", str, "", "machine weights: local path or s3:// URI"),
    Parameter("data_uri", str, "", "test data root: local path or s3:// URI"),
    Parameter("sample_list_uri", str, "", "custom sample list ('' = the task's official list)"),
    Parameter("machine_options", str, "{}", "machine options (JSON object)"),
    Parameter("features_uri", str, "", "import this feature set instead of extracting ('' = extract)"),
    Parameter("train_data_uri", str, "", "training data root (the reference's separate training inputs)"),
    Parameter("train_sample_list_uri", str, "", "training sample list"),
    Parameter("train_features_uri", str, "", "import this training feature set instead of extracting"),
    Parameter("codecs", list, None, "traditional codecs: [{codec, options, identity_hash}] (default: x265 as "
              "built where the pipeline is compiled)"),
    Parameter("qps", list, [], "QPs ([] = the test conditions')"),
    Parameter("lambdas", list, [], "hyperprior lambdas ([] = the test conditions')"),
    Parameter("hyperprior", list, [], "trained checkpoints: [{codec: hyperprior, rate_point, uri, identity_hash}]"),
    Parameter("legacy", bool, False, "the reference's floor quantization (under any preset)"),
    Parameter("preset", str, "fcbench", "fcbench or paper (the reference chain: floor quantization, VTM as codec and "
              "anchor; docs/test-conditions.md section 7), named in every result"),
    Parameter("anchor", str, "", "BD-rate anchor codec ('' = the preset's, vtm)"),
    Parameter("title", str, "", "report title"),
    Parameter("tracking_uri", str, "", "MLflow tracking URI ('' = MLFLOW_TRACKING_URI of the task, 'off' = none)"),
    Parameter("storage_uri", str, "", "also publish every stage's outputs there ('' = local only)"),
    *(Parameter(s.name, s.type, s.unset, s.help) for s in TRAINING_SETTINGS),
)
PARAMETERS: dict[str, Parameter] = {p.name: p for p in _PARAMETERS}


class _Defaults(dict):
    """DEFAULTS[name]: a fresh copy of the default (lists are not shared between signatures)."""

    def __getitem__(self, name: str) -> Any:
        return copy.deepcopy(super().__getitem__(name))


DEFAULTS: dict[str, Any] = _Defaults({p.name: p.default for p in _PARAMETERS})
