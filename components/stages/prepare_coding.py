"""KFP component `prepare_coding` (the paper's "truncate_quantize" stage, its display name):
resolve the coding conditions of a (model, task, codec family) from the test conditions, lay out
the codec x rate-point grid, and code the feature set with the `bypass` codec (truncate +
quantize only: the reference's "QP0" point, the floor every codec of the family is measured
against).

Outputs the grid as a parameter list: one item per (codec, rate point) holding the codec, its
options and identity hash, the rate point, the conditions (JSON) and a label, so every
downstream codec task gets them as explicit inputs (part of its KFP cache key). A codec entry
may carry a `chain` (fcbench.codecs.chain: the outlier side channel, a fitted range table given
by path or s3:// URI); its conditions then include it and its label names it ("x265+side"),
which is the label of its RD points.
"""
from typing import Literal

from kfp.dsl import Dataset, Input, Metrics, Output

from fcbench.components.stages import container_images

FAMILIES = ("traditional", "learned")
CONDITION_KEYS = ("low", "high", "truncate", "bit_depth", "layout", "quant")


def resolve_conditions(model: str, task: str, family: str, quantization: str, overrides: dict, preset: str = "") -> dict:
    """Codec.encode keyword conditions from the test conditions under a preset ('' = the
    default), with its quantization unless `quantization` names one ("round", or "legacy": the
    reference's floor), and explicit overrides."""
    from fcbench.codecs.conditions import load_conditions
    from fcbench.codecs.presets import get_preset

    if family not in FAMILIES:
        raise ValueError(f"unknown codec family {family!r}; choose one of {FAMILIES}")
    unknown = sorted(set(overrides) - set(CONDITION_KEYS))
    if unknown:
        raise ValueError(f"unknown condition override(s) {unknown}; allowed: {list(CONDITION_KEYS)}")
    path: Literal["traditional", "learned"] = "learned" if family == "learned" else "traditional"
    conditions = get_preset(preset or None).conditions(load_conditions().get(model, task), path, quantization=quantization)
    conditions.update(overrides)
    return conditions


def default_rate_points(model: str, task: str, family: str) -> list:
    """QPs (traditional) or lambdas (learned) of the test conditions."""
    from fcbench.codecs.conditions import load_conditions

    tc = load_conditions().get(model, task)
    return list(tc.traditional.qps) if family == "traditional" else list(tc.learned.lambdas)


def codec_rate_points(spec: dict, points: list, family: str) -> list:
    """The rate points of one codec entry: its own `rate_point` (one trained model) or
    `rate_points`, else the family's points; the traditional family's are VTM QPs, which a
    codec with another rate unit maps to its own (AV1: CRFs, `Codec.rate_points_for_qps`)."""
    from fcbench.codecs.registry import codec_class

    if "rate_point" in spec:
        return [spec["rate_point"]]
    if spec.get("rate_points"):
        own = list(spec["rate_points"])
    elif family == "traditional":
        own = codec_class(spec["codec"]).rate_points_for_qps(points)
    else:
        own = list(points)
    return list(dict.fromkeys(own))  # two QPs may map to one rate point: code it once


def _with_chain(conditions: dict, spec: dict) -> dict:
    """The conditions of a codec entry with its `chain` (a range table URI staged first)."""
    from fcbench.codecs import chain

    spec = chain.check(spec)
    if spec.get("ranges"):
        from fcbench.components.inputs import local_path

        spec["ranges"] = str(local_path(str(spec["ranges"])))
    return chain.apply(conditions, spec)


def rate_grid(codecs: list, rate_points: list, model: str, task: str, family: str, conditions: dict) -> list:
    """One loop item per (codec, rate point): {codec, options, identity_hash, rate_point,
    rate_unit, conditions, label} plus any other keys of the codec entry (e.g. a checkpoint
    `uri`). See codec_rate_points for which rate points each entry gets."""
    import json

    from fcbench.codecs import chain
    from fcbench.codecs.registry import codec_class

    points = list(rate_points) or default_rate_points(model, task, family)
    grid, labels = [], set()
    for spec in codecs:
        missing = {"codec", "identity_hash"} - set(spec)
        if missing:
            raise ValueError(f"codec entry {spec} lacks {sorted(missing)}")
        label = chain.label(spec["codec"], spec.get("chain"))
        if label in labels and "rate_point" not in spec:
            raise ValueError(f"two codec entries are both {label!r}: give them different chains")
        labels.add(label)
        text = json.dumps(_with_chain(conditions, spec.get("chain") or {}), sort_keys=True)
        base = {k: v for k, v in spec.items() if k != "rate_points"}
        base.update(options=spec.get("options") or {}, conditions=text, label=label)
        if family == "traditional":  # (learned codecs' classes import torch: not here)
            base.setdefault("rate_unit", codec_class(spec["codec"]).rate_unit)
        for rate_point in codec_rate_points(spec, points, family):
            grid.append({**base, "rate_point": rate_point})
    return grid


def clipped_fraction(features_dir: str, conditions: dict) -> float:
    """Fraction of feature values outside the truncation range (what truncation destroys)."""
    import numpy as np

    from fcbench.codecs.chain import transforms
    from fcbench.codecs.features.featureset import FeatureSet

    if conditions.get("low") is None or not conditions.get("truncate", True):
        return 0.0
    changed = total = 0
    for _, x in FeatureSet.open(features_dir):
        xt = transforms.truncate(x, conditions["low"], conditions["high"])
        changed += int(np.count_nonzero(xt != x))
        total += x.size
    return changed / max(total, 1)


def prepare(features_dir: str, model: str, task: str, family: str, quantization: str, overrides: str,
            codecs: list, rate_points: list, quantized_dir: str, results_path: str,
            storage_uri: str = "", preset: str = "") -> tuple[dict, list, dict]:
    """Plain-function body: (conditions, grid, bypass summary + clipped fraction). The
    bypass results go to `results_path` (what `evaluate` reads the rate from); with a
    `storage_uri` the bypass point is also published under <model>/<task>/bypass-<family>/qp0/."""
    from fcbench.codecs import get_codec
    from fcbench.components.codec_identity import identity_hash
    from fcbench.components.coding import code_features
    from fcbench.components.stages.context import stage_context
    from fcbench.components.stages.params import parse_json
    from fcbench.components.storage.publish import publish_coding

    with stage_context("prepare_coding", model=model, task=task, family=family):
        conditions = resolve_conditions(model, task, family, quantization, parse_json(overrides, "overrides"), preset)
        grid = rate_grid(codecs, rate_points, model, task, family, conditions)
        bypass_hash = identity_hash(get_codec("bypass").identity)
        summary = code_features(features_dir, "bypass", {}, bypass_hash, 0, conditions,
                                quantized_dir, results_path, preset=preset or None)
        summary["clipped_fraction"] = clipped_fraction(features_dir, conditions)
        # The two families quantize differently: one bypass point each, kept apart.
        publish_coding(storage_uri, model, task, f"bypass-{family}", 0, quantized_dir, results_path)
        return conditions, grid, summary


@container_images.component("codec")
def prepare_coding(features: Input[Dataset], model: str, task: str, family: str, quantization: str,
                   overrides: str, codecs: list, rate_points: list, quantized: Output[Dataset],
                   results: Output[Dataset], stats: Output[Metrics], storage_uri: str = "", preset: str = "") -> list:
    """The codec x rate-point grid of one codec family (with its conditions), and the
    truncate-quantize-only reconstruction with its rate results.

    The grid is the task's only parameter output: the kfp local runner cannot loop over a named
    output of a multi-output task.
    """
    from fcbench.components.report_html import point_metric_names
    from fcbench.components.stages.params import log_metrics
    from fcbench.components.stages.prepare_coding import prepare

    conditions, grid, summary = prepare(features.path, model, task, family, quantization, overrides,
                                        codecs, rate_points, quantized.path, results.path, storage_uri, preset)
    quantized.metadata.update({"codec": "bypass", "family": family, "conditions": conditions})
    keys = ("bpfp", "mse", "psnr_q", "clipped_fraction")
    log_metrics(stats, point_metric_names(f"bypass-{family}", 0, "qp", {k: summary.get(k) for k in keys}))
    return grid
