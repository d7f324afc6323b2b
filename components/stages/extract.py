"""KFP component `extract`: run a machine's first half on a task's samples -> feature set.

Runs in the GPU image and requests a GPU in the pipelines (DINOv2-g, Llama-3-8B, SD3).
Every input that determines the features is explicit: model, task, weights, data, sample
list and machine options (KFP caches on them).
"""
from pathlib import Path

from kfp.dsl import Dataset, Output

from fcbench.components.stages import container_images


def extract_features(model: str, task: str, weights_uri: str, data_uri: str, sample_list_uri: str,
                     machine_options: "str | dict", out_dir: str, storage_uri: str = "") -> dict:
    """Plain-function body of the component (tests and benchmarks call it directly); with a
    `storage_uri` the feature set is also published to <model>/<task>/features/ there."""
    from fcbench.components.inputs import local_path
    from fcbench.components.stages.context import stage_context
    from fcbench.components.stages.params import parse_json
    from fcbench.components.storage.keys import artifact_key
    from fcbench.components.storage.publish import publish
    from fcbench.machines import get_machine

    with stage_context("extract", model=model, task=task):
        options = parse_json(machine_options, "machine_options")
        weights = local_path(weights_uri) if weights_uri else None
        data = local_path(data_uri)
        extra = {"sample_list": local_path(sample_list_uri)} if sample_list_uri else {}
        machine = get_machine(model, task, weights=weights, **options)
        fs = machine.extract(data, Path(out_dir), **extra)
        # The writer hashed every sample as it wrote it: check the set is complete, not re-hash it.
        missing = fs.missing()
        if missing or fs.pending:
            raise ValueError(f"extraction left an unfinished feature set in {out_dir}: "
                             + (f"samples {missing[:3]} have no file" if missing else "its journal was not compacted"))
        info = {"model": model, "task": task, "samples": len(fs), "split_point": fs.meta.get("split_point")}
        published = publish(storage_uri, out_dir, artifact_key(model, task, "features"))
        return {**info, "storage_uri": published} if published else info


@container_images.component("gpu")
def extract(model: str, task: str, weights_uri: str, data_uri: str, sample_list_uri: str,
            machine_options: dict, features: Output[Dataset], storage_uri: str = ""):
    """Extract the split-point features of every sample into a feature-set Dataset."""
    from fcbench.components.stages.extract import extract_features

    features.metadata.update(extract_features(model, task, weights_uri, data_uri, sample_list_uri,
                                              machine_options, features.path, storage_uri))
