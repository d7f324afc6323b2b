"""Every pipeline compiles; structural checks on the compiled specs: images, GPU requests,
cluster settings, caching keys (codec identity and every knob are task inputs), parallelism."""
import re

import pytest
import yaml
from kfp import compiler

from fcbench.components import cluster
from fcbench.components.stages import container_images
from fcbench.pipelines.commands.kfp import PIPELINES, load_pipeline

GPU_COMPONENTS = ("extract", "evaluate", "hyperprior-train")
CPU_COMPONENTS = ("prepare-coding", "code-traditional", "hyperprior-infer", "report", "resolve-codecs", "open-tracking",
                  "klt-fit")


def compile_docs(name, tmp_path):
    path = tmp_path / f"{name}.yaml"
    compiler.Compiler().compile(load_pipeline(name), str(path))
    docs = list(yaml.safe_load_all(path.read_text()))
    return docs[0], (docs[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"] if len(docs) > 1 else {})


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("compiled")
    return {name: compile_docs(name, tmp) for name in PIPELINES}


def _base(executor: str) -> str:
    """exec-evaluate-3 -> evaluate"""
    name = executor[len("exec-"):]
    parts = name.rsplit("-", 1)
    return parts[0] if len(parts) == 2 and parts[1].isdigit() else name


@pytest.mark.parametrize("name", list(PIPELINES))
def test_pipeline_compiles_with_the_expected_components(compiled, name):
    spec, _ = compiled[name]
    kinds = {_base(e) for e in spec["deploymentSpec"]["executors"]}
    first = {"open-tracking", "resolve-codecs"}
    expected = {"benchmark": first | {"extract", "prepare-coding", "code-traditional", "evaluate", "importer",
                                      "hyperprior-infer", "report"},
                "benchmark-traditional": first | {"extract", "prepare-coding", "code-traditional", "evaluate", "importer",
                                                  "report"},
                "train_hyperprior": {"open-tracking", "extract", "prepare-coding", "importer", "hyperprior-train"},
                "full": first | {"extract", "prepare-coding", "code-traditional", "evaluate", "hyperprior-train",
                                 "hyperprior-infer", "report"},
                "fit_klt": {"open-tracking", "extract", "importer", "klt-fit"}}[name]
    assert kinds == expected


@pytest.mark.parametrize("name", list(PIPELINES))
def test_images_gpu_requests_and_cluster_settings(compiled, name):
    spec, k8s = compiled[name]
    for executor, body in spec["deploymentSpec"]["executors"].items():
        kind = _base(executor)
        if kind == "importer":
            continue
        container = body["container"]
        resources = container.get("resources") or {}
        settings = k8s[executor]
        # Every task gets the object-storage credentials and the endpoints from the cluster objects.
        assert settings["secretAsEnv"][0]["secretName"] == cluster.S3_SECRET
        assert settings["configMapAsEnv"][0]["configMapName"] == cluster.ENDPOINTS_CONFIG_MAP
        # install_kfp_package=False: the images contain kfp, nothing is pip-installed at run time.
        assert "pip install" not in " ".join(container["command"] + container.get("args", []))
        if kind in GPU_COMPONENTS:
            assert container["image"] == container_images.gpu_image()
            assert resources["accelerator"]["resourceType"] == cluster.GPU_RESOURCE
            assert resources["accelerator"]["resourceCount"] == "1"
            assert settings["nodeSelector"]["labels"] == dict([cluster.GPU_NODE_LABEL])
            assert settings["tolerations"] == [dict(cluster.GPU_TOLERATION)]
        else:
            assert kind in CPU_COMPONENTS, kind
            assert container["image"] == container_images.codec_image()
            assert "accelerator" not in resources
            assert "nodeSelector" not in settings


def _inputs(spec, component):
    return set(spec["components"][component]["inputDefinitions"].get("parameters", {})) | set(
        spec["components"][component]["inputDefinitions"].get("artifacts", {}))


def test_codec_tasks_take_identity_and_every_knob_as_inputs(compiled):
    spec, _ = compiled["benchmark"]
    assert {"codec", "codec_options", "codec_identity_hash", "rate_point", "conditions", "features"} <= _inputs(spec, "comp-code-traditional")
    assert {"checkpoint", "rate_point", "conditions", "codec_identity_hash", "features"} <= _inputs(spec, "comp-hyperprior-infer")
    assert {"model", "task", "weights_uri", "data_uri", "sample_list_uri", "machine_options", "reference",
            "quantized", "quantized_rate", "recons", "rates", "learned_recons", "learned_rates"} <= _inputs(spec, "comp-evaluate")
    assert {"model", "task", "family", "quantization", "overrides", "codecs", "rate_points"} <= _inputs(spec, "comp-prepare-coding")


def _tasks(spec):
    """Every task of every DAG, by task name."""
    out = {}
    for comp in spec["components"].values():
        out.update(comp.get("dag", {}).get("tasks", {}))
    out.update(spec["root"]["dag"]["tasks"])
    return out


def test_codec_loop_fans_out_over_the_grid_and_passes_the_identity(compiled):
    spec, _ = compiled["benchmark"]
    tasks = _tasks(spec)
    loops = [t for name, t in tasks.items() if name.startswith("for-loop") and "parameterIterator" in t]
    grid_loops = [t for t in loops
                  if re.fullmatch(r"pipelinechannel--prepare-coding(-\d+)?-Output",
                                  t["parameterIterator"]["items"]["inputParameter"])]
    assert len(grid_loops) == 4  # traditional and learned, in the extract and the import branch
    encodes = [t for name, t in tasks.items() if name.startswith("code-traditional")]
    assert encodes
    for enc in encodes:
        params = enc["inputs"]["parameters"]
        for knob, key in (("codec_identity_hash", "identity_hash"), ("rate_point", "rate_point"), ("conditions", "conditions"),
                          ("codec_options", "options"), ("codec", "codec")):
            assert f'["{key}"]' in params[knob]["parameterExpressionSelector"], (knob, params[knob])


def test_one_evaluate_task_fans_in_every_loop_and_feeds_the_report(compiled):
    spec, _ = compiled["benchmark"]
    tasks = _tasks(spec)
    evaluations = {name: t for name, t in tasks.items() if name.startswith("evaluate")}
    assert len(evaluations) == 2  # one per features branch (extract / import), none inside a loop
    for ev in evaluations.values():
        arts = ev["inputs"]["artifacts"]
        for collected in ("recons", "rates", "learned_recons", "learned_rates"):
            assert arts[collected]["taskOutputArtifact"]["producerTask"].startswith("for-loop"), collected
        assert arts["quantized"]["taskOutputArtifact"]["producerTask"].startswith("prepare-coding")
    loops = [t for name, t in tasks.items() if name.startswith("for-loop")]
    loop_bodies = [spec["components"][t["componentRef"]["name"]]["dag"]["tasks"] for t in loops]
    assert not any(name.startswith("evaluate") for body in loop_bodies for name in body)
    reports = [t for name, t in tasks.items() if name.startswith("report")]
    assert len(reports) == 2
    for rep in reports:
        assert rep["inputs"]["artifacts"]["points"]["taskOutputArtifact"]["producerTask"] in evaluations


@pytest.mark.parametrize("name", ["full", "benchmark-traditional"])
def test_other_pipelines_evaluate_once_per_features_branch(compiled, name):
    spec, _ = compiled[name]
    evaluations = [n for n in _tasks(spec) if n.startswith("evaluate")]
    assert len(evaluations) == (1 if name == "full" else 2)


def test_default_codecs_name_codecs_only(compiled):
    """No identity computed on the compiling machine is in the IR: the codec image resolves it."""
    for name in ("benchmark", "benchmark-traditional", "full"):
        spec, _ = compiled[name]
        assert spec["root"]["inputDefinitions"]["parameters"]["codecs"]["defaultValue"] == ["x265", "av1"]


def test_coding_tasks_get_the_identities_resolved_in_the_image(compiled):
    """prepare_coding's codecs (and so every grid item's identity_hash) come from resolve_codecs,
    which is never cached."""
    spec, _ = compiled["benchmark"]
    tasks = _tasks(spec)
    resolve = [t for n, t in tasks.items() if n.startswith("resolve-codecs")]
    assert len(resolve) == 1 and resolve[0]["cachingOptions"] == {}
    preps = [t for n, t in tasks.items() if n.startswith("prepare-coding") and
             t["inputs"]["parameters"]["family"]["runtimeValue"]["constant"] == "traditional"]
    assert preps
    for prep in preps:
        assert prep["inputs"]["parameters"]["codecs"]["componentInputParameter"].startswith(
            "pipelinechannel--resolve-codecs")
