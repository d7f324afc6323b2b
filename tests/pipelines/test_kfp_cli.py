"""`fcbench compile|run|submit` argument handling, called through the real CLI entry point."""
import socket

import pytest
import yaml

from fcbench.pipelines.cli import main
from fcbench.pipelines.commands.kfp import resolve
from fcbench.pipelines.kfp_backend import check_host


def test_compile_writes_a_pipeline_spec(tmp_path, capsys):
    out = tmp_path / "train.yaml"
    assert main(["compile", "train-hyperprior", "-o", str(out)]) == 0
    spec = next(yaml.safe_load_all(out.read_text()))
    assert spec["pipelineInfo"]["name"] == "fcbench-train-hyperprior"
    assert "upload it" in capsys.readouterr().out


def test_unknown_pipeline_is_refused(tmp_path, capsys):
    assert main(["compile", "nope", "-o", str(tmp_path / "x.yaml")]) == 1
    assert "unknown pipeline 'nope'" in capsys.readouterr().err


def test_run_refuses_unknown_parameters_listing_the_known_ones(tmp_path, capsys):
    assert main(["run", "full", "--local", "--out", str(tmp_path), "--param", "colour=1"]) == 1
    err = capsys.readouterr().err
    assert "no parameter(s) ['colour']" in err and "weights_uri" in err


def test_run_requires_local(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["run", "benchmark", "--out", str(tmp_path)])
    assert "--local" in capsys.readouterr().err


def test_benchmark_without_checkpoints_runs_the_traditional_variant():
    args = {"qps": [22]}
    name, pipeline = resolve("benchmark", args)
    assert name == "benchmark-traditional"
    name, _ = resolve("benchmark", {"hyperprior": [{"codec": "hyperprior", "rate_point": 0.01, "uri": "/m.pt",
                                                    "identity_hash": ""}]})
    assert name == "benchmark"


def test_submit_to_an_unreachable_host_names_it(capsys):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    host = f"http://127.0.0.1:{port}"
    assert main(["submit", "benchmark", "--host", host, "--qp", "22"]) == 1
    err = capsys.readouterr().err
    assert host in err and "unreachable" in err


def test_check_host_rejects_non_http():
    with pytest.raises(ValueError, match="not an http"):
        check_host("ftp://example.com")


def test_training_flags_become_pipeline_parameters_and_unset_ones_are_left_out():
    import argparse

    from fcbench.pipelines.commands import kfp

    sub = argparse.ArgumentParser().add_subparsers()
    kfp.register(sub)
    args = sub.choices["run"].parse_args(["full", "--local", "--crop", "64", "4096", "--batch-size", "40",
                                          "--lr", "0.001", "--steps", "5"])
    arguments = kfp.collect_arguments(args)
    assert {k: arguments[k] for k in ("crop", "batch_size", "lr", "steps")} == \
        {"crop": [64, 4096], "batch_size": 40, "lr": 0.001, "steps": 5}
    assert not {"epochs", "seed", "N", "M", "evaluate"} & set(arguments)  # unset: the pipeline's defaults
