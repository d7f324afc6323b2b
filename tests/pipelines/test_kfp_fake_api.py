"""`fcbench upload`, `submit` and `doctor --kfp-host` against a loopback fake of the KFP REST API
(#20): what reaches the server (paths, auth, namespace, the IR itself), and the IR rewritten for
the backend the probe names. The fake checks nothing a backend checks: the uploaded IR is checked
here against the real protos of the backend version it claims (tests/pipelines/kfp_schema.py)."""
from __future__ import annotations

import pytest

from fcbench.components import cluster
from fcbench.pipelines.cli import main
from tests.pipelines.fake_kfp import FakeKFP
from tests.pipelines.kfp_schema import unknown_fields


def _paths(fake: FakeKFP) -> list[tuple[str, str]]:
    return [(r["method"], r["path"]) for r in fake.requests]


def test_upload_then_a_new_version_reaches_the_server_with_the_token(capsys):
    with FakeKFP(tag="2.16.0", ui_prefix="/pipeline") as fake:
        for extra in ([], ["--version", "v2"]):
            assert main(["upload", "fit_klt", "--name", "fcb", "--host", fake.host, "--token", "t", "--namespace", "team-a",
                         *extra]) == 0
    out = capsys.readouterr().out
    assert "runs every fcbench pipeline" in out and "uploaded fit_klt as new pipeline 'fcb'" in out
    assert "as version 'v2'" in out
    assert ("POST", "/apis/v2beta1/pipelines/upload") in _paths(fake)
    assert ("POST", "/apis/v2beta1/pipelines/upload_version") in _paths(fake)
    assert all(r["auth"] == "Bearer t" for r in fake.requests)
    (pipeline,) = fake.pipelines.values()
    assert pipeline["display_name"] == "fcb" and pipeline["namespace"] == ""  # shared (not --private): no namespace
    assert fake.versions[0]["display_name"] == "v2" and fake.versions[0]["pipeline_id"] == pipeline["pipeline_id"]
    assert unknown_fields(pipeline["spec"], "2.16.0") == []


def test_a_private_upload_names_the_namespace():
    with FakeKFP() as fake:
        assert main(["upload", "fit_klt", "--name", "mine", "--host", fake.host, "--private", "--namespace", "team-a"]) == 0
    (pipeline,) = fake.pipelines.values()
    assert pipeline["namespace"] == "team-a"


@pytest.mark.parametrize("tag, version", [("2.14.4", "2.14.0"), ("2.5.0", "2.5.0"), ("2.4.1", "2.4.0")])
def test_an_older_backend_gets_an_ir_it_reads(tag, version):
    with FakeKFP(tag=tag, multi_user=False) as fake:
        assert main(["upload", "fit_klt", "--name", "fcb", "--host", fake.host]) == 0
    (pipeline,) = fake.pipelines.values()
    assert unknown_fields(pipeline["spec"], version) == []


def test_a_pipeline_an_older_backend_cannot_run_is_not_sent(capsys):
    with FakeKFP(tag="2.5.0", multi_user=False) as fake:
        assert main(["upload", "benchmark", "--name", "fcb", "--host", fake.host]) == 1
    assert "dsl.Collected, which needs KFP 2.14" in capsys.readouterr().err
    assert not any(method == "POST" for method, _ in _paths(fake))


def test_submit_creates_the_run_in_the_namespace_with_the_runner_account(capsys):
    with FakeKFP(tag="2.14.0") as fake:
        assert main(["submit", "fit_klt", "--host", fake.host, "--namespace", "team-a", "--run-name", "r1"]) == 0
    (experiment,) = fake.experiments.values()
    assert experiment["namespace"] == "team-a"
    (run,) = fake.runs.values()
    assert run["display_name"] == "r1" and run["experiment_id"] == experiment["experiment_id"]
    assert run["service_account"] == cluster.SERVICE_ACCOUNT
    docs = [run["pipeline_spec"]["pipeline_spec"], run["pipeline_spec"]["platform_spec"]]
    assert unknown_fields(docs, "2.14.0") == []  # rewritten for the backend the probe named
