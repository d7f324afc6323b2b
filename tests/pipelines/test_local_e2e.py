"""The benchmark pipeline end to end under the kfp local runner, started through
`fcbench run benchmark --local`: tiny DINOv2 cls machine, x265 at two QPs and a tiny trained
hyperprior (given by path, its identity computed by the CLI and checked); every stage also
publishes its outputs to a real S3 server (moto on loopback) through --storage-uri. The run is
made under the `paper` preset (with x265 given: VTM is not here), which every result names."""
import builtins
import contextlib
import csv
import io
import json
import logging

import pytest

from fcbench.components.codec_identity import identity_hash, resolve_identity
from fcbench.pipelines.cli import main
from fcbench.pipelines.local import LocalRun, task_threads

pytestmark = pytest.mark.integration  # the kfp local runner

QPS = [27, 37]
LAMBDA = 0.01


@pytest.fixture(scope="module")
def cli_run(tiny_cls, tiny_checkpoint, tmp_path_factory, s3_bucket):
    """`fcbench run benchmark --local ...` through the real CLI entry point."""
    out = tmp_path_factory.mktemp("e2e")
    argv = ["run", "benchmark", "--local", "--out", str(out), "--no-cache", "--model", "dinov2", "--task", "cls",
            "--weights", tiny_cls["weights"], "--data", tiny_cls["data"], "--sample-list", tiny_cls["sample_list"],
            "--codec", "x265", "--anchor", "x265", "--hyperprior", f"{LAMBDA}={tiny_checkpoint}",
            "--storage-uri", f"s3://{s3_bucket}/e2e", "--preset", "paper"]
    argv += [a for k, v in json.loads(tiny_cls["options"]).items() for a in ("--option", f"{k}={v}")]
    argv += [a for q in QPS for a in ("--qp", str(q))]
    printed = io.StringIO()
    print_before, handlers_before = builtins.print, logging.getLogger().handlers[:]
    with contextlib.redirect_stdout(printed):
        code = main(argv)
    assert code == 0, printed.getvalue()
    # the runner's per-task print/log swaps (racy across its threads) must not leak out of the run
    assert builtins.print is print_before and logging.getLogger().handlers == handlers_before
    runs = list((out / "artifacts").glob("fcbench-benchmark-*"))
    assert len(runs) == 1
    return LocalRun("fcbench-benchmark", runs[0], 0.0), printed.getvalue()


@pytest.fixture(scope="module")
def run(cli_run):
    return cli_run[0]


def test_cli_prints_the_result_table(cli_run, tiny_checkpoint):
    run, printed = cli_run
    assert "pipeline benchmark finished" in printed
    assert run.table in printed
    # the CLI computed the local checkpoint's identity; hyperprior_infer checked it and coded with it
    identity = resolve_identity("hyperprior", {"checkpoint": str(tiny_checkpoint), "device": "cpu"})["identity_hash"]
    results = json.loads(run.outputs("hyperprior-infer", "results")[0].read_text())
    assert identity_hash(results["identity"]) == identity


def _points(run):
    with open(run.report_dir / "rd_points.csv") as f:
        return list(csv.DictReader(f))


def test_every_rate_point_has_a_result(run):
    points = _points(run)
    got = sorted((p["label"], float(p["rate_point"])) for p in points)
    want = sorted([("x265", float(q)) for q in QPS] + [("hyperprior", LAMBDA), ("uncompressed", 0.0), ("bypass", 0.0)])
    assert got == want
    for p in points:
        assert p["model"] == "dinov2" and p["task"] == "cls" and p["metric"] == "top1"
        assert 0.0 <= float(p["metric_value"]) <= 100.0


def test_rates_are_real_and_ordered(run):
    by = {(p["label"], float(p["rate_point"])): p for p in _points(run)}
    assert float(by[("uncompressed", 0.0)]["bpfp"]) == 32.0
    assert float(by[("uncompressed", 0.0)]["feature_mse"]) == 0.0
    # bypass stores 10-bit samples: 10 bpfp; the container header is in its own column
    assert 10.0 <= float(by[("bypass", 0.0)]["bpfp"]) < 10.01 and float(by[("bypass", 0.0)]["container_bpfp"]) > 0
    low_qp, high_qp = (float(by[("x265", float(q))]["bpfp"]) for q in QPS)
    assert 0 < high_qp < low_qp < 10.0
    assert float(by[("x265", 27.0)]["feature_mse"]) < float(by[("x265", 37.0)]["feature_mse"])
    assert float(by[("hyperprior", LAMBDA)]["bpfp"]) > 0


def test_codec_tasks_wrote_bitstreams_and_reconstructions(run):
    recon = run.outputs("code-traditional", "recon")
    assert len(recon) == len(QPS)
    for folder in recon:
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["codec"] == "x265" and len(manifest["samples"]) == 4
    assert all(len(list(b.glob("*.bin"))) == 4 for b in run.outputs("code-traditional", "bitstreams"))
    assert len(run.outputs("hyperprior-infer", "recon")) == 1


def test_report_table_and_plot(run):
    text = run.table
    assert "x265" in text and "hyperprior" in text and "uncompressed" in text
    assert list(run.report_dir.glob("rd_dinov2_cls.png"))


def test_the_preset_reaches_every_result(run):
    """--preset paper: the reference's floor quantization, and the name in every table."""
    assert "Preset: `paper`: the reference chain" in run.table
    assert {p["preset"] for p in _points(run)} == {"paper"}
    for results in run.outputs("code-traditional", "results") + run.outputs("hyperprior-infer", "results"):
        body = json.loads(results.read_text())
        assert body["preset"] == "paper" and {r["preset"] for r in body["rows"]} == {"paper"}
    traditional = json.loads(run.outputs("code-traditional", "results")[0].read_text())
    assert traditional["conditions"]["quant"] == "legacy"


def test_every_stage_published_to_object_storage(run, s3_bucket):
    from fcbench.components.storage import open_storage, verify_featureset
    from fcbench.components.storage.keys import artifact_key

    root = f"s3://{s3_bucket}/e2e"
    store = open_storage(root)
    features = artifact_key("dinov2", "cls", "features")
    assert verify_featureset(f"{root}/{features}") == []
    points = [("x265", q) for q in QPS] + [("hyperprior", LAMBDA), ("bypass-traditional", 0), ("bypass-learned", 0)]
    for codec, rp in points:
        recon = artifact_key("dinov2", "cls", "recon", codec, rp)
        assert verify_featureset(f"{root}/{recon}") == [], recon
        assert store.exists(artifact_key("dinov2", "cls", "metrics", codec, rp) + "results.json")
        if not codec.startswith("bypass"):
            bits = artifact_key("dinov2", "cls", "bitstreams", codec, rp)
            assert store.verify_dir(bits) == [] and len([k for k in store.ls(bits) if k.endswith(".bin")]) == 4
    reports = {k.split("/")[1] for k in store.ls("reports/")}
    assert len(reports) == 1  # reports/<KFP run name>/
    (name,) = reports
    assert name.startswith("fcbench-benchmark")  # the KFP job name placeholder was resolved
    assert store.get_bytes(f"reports/{name}/report.md").decode() == run.table


@pytest.fixture(scope="module")
def cli_only_report(tiny_cls, tiny_checkpoint, tmp_path_factory):
    """The same benchmark made by a CLI-only user: extract -> encode (x265 QPs, the
    quantization-only bypass point, the hyperprior) -> evaluate every set -> report."""
    out = tmp_path_factory.mktemp("cli-only")
    machine = ["--model", "dinov2", "--task", "cls", "--weights", tiny_cls["weights"], "--data", tiny_cls["data"],
               "--sample-list", tiny_cls["sample_list"], "--no-progress"]
    machine += [a for k, v in json.loads(tiny_cls["options"]).items() for a in ("--option", f"{k}={v}")]
    features, sweep, evals = out / "features", out / "sweep", out / "evals"
    with torch_threads(task_threads()):
        _cli_path(machine, features, sweep, evals, out, tiny_checkpoint)
    return out / "report"


@contextlib.contextmanager
def torch_threads(n: int):
    """The pipeline's tasks run torch with `n` threads (fcbench.pipelines.local.task_threads): so
    does the CLI path (this process and the sweep workers it starts), else sums in another order
    move the features in their 9th digit."""
    import torch

    from fcbench.codecs.common import settings

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        with settings.environment({settings.OMP_THREADS: str(n)}):
            yield
    finally:
        torch.set_num_threads(before)


def _cli_path(machine: list, features, sweep, evals, out, tiny_checkpoint) -> None:
    assert main(["extract", *machine, "--out", str(features)]) == 0
    coding = ["--features", str(features), "--out", str(sweep), "--preset", "paper", "--no-progress"]
    assert main(["encode", *coding, "--codec", "x265", "--qp", *map(str, QPS)]) == 0
    assert main(["encode", *coding, "--codec", "bypass", "--qp", "0"]) == 0
    assert main(["encode", *coding, "--codec", "hyperprior", "--rate-points", str(LAMBDA),
                 "--option", f"checkpoint={tiny_checkpoint}", "--option", "device=cpu"]) == 0
    for i, folder in enumerate([features, *sorted((sweep / "recon").glob("*/*"))]):
        assert main(["evaluate", *machine, "--features", str(folder), "--out", str(evals / f"{i}.json")]) == 0
    assert main(["report", "--results", str(sweep), str(evals), "--out", str(out / "report"), "--anchor", "x265"]) == 0


def test_the_cli_path_reaches_the_pipelines_report(run, cli_only_report):
    """Same points (rate, task metric, fidelity, samples, preset), same BD-rates; only the
    measured CPU times differ."""
    def points(folder):
        with open(folder / "rd_points.csv") as f:
            return {(p["label"], float(p["rate_point"])): p for p in csv.DictReader(f)}

    pipeline, cli = points(run.report_dir), points(cli_only_report)
    assert sorted(cli) == sorted(pipeline)
    for key, want in pipeline.items():
        got = cli[key]
        for field in ("model", "task", "metric", "direction", "samples", "preset", "codec_version"):
            assert got[field] == want[field], (key, field)
        for field in ("bpfp", "ebpfp", "side_bpfp", "container_bpfp", "metric_value", "feature_mse", "feature_psnr"):
            assert (got[field] == "") == (want[field] == ""), (key, field)
            if want[field]:
                assert float(got[field]) == pytest.approx(float(want[field]), rel=1e-9), (key, field)
        assert (got["enc_s"] == "") == (want["enc_s"] == ""), key  # timed on both paths (or on neither)

    def bd(folder):
        with open(folder / "bdrate.csv") as f:
            return {r["label"]: r for r in csv.DictReader(f)}

    assert bd(cli_only_report).keys() == bd(run.report_dir).keys()
    for codec, want in bd(run.report_dir).items():
        for field in ("bd_rate", "bd_metric", "bd_rate_feature_psnr", "flags"):
            assert bd(cli_only_report)[codec][field] == want[field], (codec, field)
