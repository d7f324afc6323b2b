"""Which KFP backends can run fcbench's compiled pipelines (#20 item 1), checked against the real
IR protos of each version (tests/fixtures/kfp_protos, extracted from kubeflow/pipelines at the
commits each backend builds with) as the API server (strict, on upload) and the Argo compiler
and driver (strict) read them. No backend runs here: this is the protos' verdict, not a run's."""
from __future__ import annotations

import copy

import pytest
import yaml
from kfp import compiler

from fcbench.pipelines.cli import main
from fcbench.pipelines.commands.kfp import PIPELINES, load_pipeline
from fcbench.pipelines.kfp_backend import version_verdict
from fcbench.pipelines.kfp_target import for_backend, parse_target
from tests.pipelines.kfp_schema import unknown_fields, versions

NATIVE = [v for v in versions() if tuple(map(int, v.split(".")))[:2] >= (2, 15)]
OPTIONAL_FLAGS = {"no field 'optional' in ConfigMapAsEnv", "no field 'optional' in SecretAsEnv"}


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kfp-backends")
    out = {}
    for name in PIPELINES:
        path = tmp / f"{name}.yaml"
        compiler.Compiler().compile(load_pipeline(name), str(path))
        out[name] = list(yaml.safe_load_all(path.read_text()))
    return out


def _kinds(problems: list[str]) -> set[str]:
    return {p.split(": ", 1)[1] for p in problems}


def test_the_protos_of_these_backends_are_here():
    assert {"2.2.0", "2.4.0", "2.5.0", "2.14.0", "2.15.0", "2.16.0", "2.17.0"} <= set(versions())


@pytest.mark.parametrize("name", list(PIPELINES))
def test_backends_from_2_15_read_the_ir_as_compiled(compiled, name):
    for version in NATIVE:
        assert unknown_fields(compiled[name], version) == [], version


@pytest.mark.parametrize("name", list(PIPELINES))
def test_a_2_14_backend_reads_it_once_the_optional_flags_are_left_out(compiled, name):
    docs = copy.deepcopy(compiled[name])
    assert _kinds(unknown_fields(docs, "2.14.0")) == OPTIONAL_FLAGS  # what fails there as compiled
    assert unknown_fields(for_backend(docs, (2, 14)), "2.14.0") == []


@pytest.mark.parametrize("version", ["2.4.0", "2.5.0"])
def test_kubeflow_1_10_backends_run_the_pipelines_without_artifact_fan_ins(compiled, version):
    target = tuple(map(int, version.split(".")))[:2]
    for name in ("fit_klt", "train_hyperprior"):
        docs = copy.deepcopy(compiled[name])
        assert unknown_fields(docs, version)  # as compiled, the backend would refuse it
        assert unknown_fields(for_backend(docs, target, name), version) == [], name
    for name in ("benchmark", "benchmark-traditional", "full"):
        with pytest.raises(ValueError, match="dsl.Collected, which needs KFP 2.14"):
            for_backend(copy.deepcopy(compiled[name]), target, name)


def test_kubeflow_1_9_is_refused(compiled):
    with pytest.raises(ValueError, match="emptyDirMounts.*needs KFP 2.4"):
        parse_target("2.2")
    assert "emptyDirMounts" in " ".join(unknown_fields(compiled["fit_klt"], "2.2.0"))  # what its protos lack


def test_the_checker_is_live(compiled):
    docs = copy.deepcopy(compiled["fit_klt"])
    docs[0]["root"]["dag"]["taskz"] = {}
    some_input = next(iter(docs[0]["root"]["inputDefinitions"]["parameters"].values()))
    some_input["parameterType"] = "STRINGY"
    executor = next(iter(docs[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"].values()))
    executor["emptyDirMounts"][0]["sizeLimits"] = "1Gi"
    found = unknown_fields(docs, "2.17.0")
    assert any("no field 'taskz' in DagSpec" in p for p in found)
    assert any("'STRINGY' is not a value of ParameterType.ParameterTypeEnum" in p for p in found)
    assert any("no field 'sizeLimits' in EmptyDirMount" in p for p in found)


def test_compile_for_an_older_backend(tmp_path, capsys):
    for target, version in (("2.14", "2.14.0"), ("2.5", "2.5.0")):
        assert main(["compile", "fit_klt", "-o", str(tmp_path / "p.yaml"), "--kfp-target", target]) == 0
        assert unknown_fields(list(yaml.safe_load_all((tmp_path / "p.yaml").read_text())), version) == []
    assert main(["compile", "benchmark", "-o", str(tmp_path / "b.yaml"), "--kfp-target", "2.5"]) == 1
    assert "benchmark fans in artifacts with dsl.Collected, which needs KFP 2.14" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        main(["compile", "fit_klt", "-o", str(tmp_path / "q.yaml"), "--kfp-target", "2.2"])
    assert stop.value.code == 2 and "needs KFP 2.4 or newer" in capsys.readouterr().err


def test_the_version_check_says_what_runs_where():
    ok, says = version_verdict("2.14.3")
    assert ok and "runs every fcbench pipeline, rewritten" in says and "optional" in says
    ok, says = version_verdict("2.5.0")
    assert ok and "fit_klt and train_hyperprior run there" in says and "need 2.14" in says
