"""Every pipeline task is a new Python process, so what a stage imports is paid once per task:
torch ~2 s, mlflow ~2 s, compressai (with torch_geometric) ~5 s of CPU. A stage module imports
nothing heavy, and each stage's work imports only what it uses: no torch in the codec and report
tasks, no mlflow with tracking off, no torch_geometric anywhere.

Each case runs in a fresh interpreter as a task does (_KFP_RUNTIME=true, the kfp executor
imported first) and reports the heavy packages loaded by the end of the stage (its end event in
FCBENCH_PROGRESS_LOG, components/stages/timing.py)."""
import json
import os
import subprocess
import sys

import pytest

from fcbench.codecs import get_codec
from fcbench.components.codec_identity import identity_hash
from fcbench.components.stages.timing import stage_runs

pytestmark = pytest.mark.slow  # each test starts fresh interpreters that import torch

STAGES = ("extract", "prepare_coding", "code_traditional", "hyperprior_train", "hyperprior_infer", "evaluate", "report")
NEVER = {"torch_geometric", "transformers"}  # through compressai's package __init__ / by nothing we run here


def in_task(code: str, tmp_path, **env: str) -> list[dict]:
    """Run `code` as a task process would; the timing records of the stages it ran."""
    log = tmp_path / f"stages-{len(list(tmp_path.glob('stages-*')))}.jsonl"
    full_env = {**os.environ, "_KFP_RUNTIME": "true", "FCBENCH_PROGRESS_LOG": str(log), **env}
    proc = subprocess.run([sys.executable, "-W", "ignore", "-c", "import kfp.dsl.executor_main\n" + code],
                          env=full_env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return stage_runs(log)


def test_stage_modules_import_nothing_heavy():
    code = ("import json, sys\nfrom fcbench.components.stages import timing\nseen = {}\n"
            + "".join(f"import fcbench.components.stages.{s}\nseen[{s!r}] = timing.loaded_heavy()\n" for s in STAGES)
            + "print(json.dumps(seen))")
    proc = subprocess.run([sys.executable, "-c", "import kfp.dsl.executor_main\n" + code],
                          env={**os.environ, "_KFP_RUNTIME": "true"}, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout.splitlines()[-1])
    assert seen == {s: [] for s in STAGES}


def test_codec_and_quantization_tasks_never_import_torch(tiny_features, tmp_path):
    x265 = identity_hash(get_codec("x265").identity)
    (record,) = in_task(f"""
from fcbench.components.stages.code_traditional import encode_decode
encode_decode({str(tiny_features)!r}, "x265", {{}}, {x265!r}, 32.0, '{{"low": -20, "high": 20, "bit_depth": 10, "layout": "dinov2"}}',
              {str(tmp_path / "r")!r}, {str(tmp_path / "b")!r}, {str(tmp_path / "res.json")!r})
""", tmp_path)
    assert record["stage"] == "code_traditional" and record["in_task"] is True
    assert not {"torch", "mlflow", "compressai", "matplotlib"} & set(record["heavy"]), record["heavy"]
    (record,) = in_task(f"""
from fcbench.components.stages.prepare_coding import prepare
prepare({str(tiny_features)!r}, "dinov2", "cls", "traditional", "", "{{}}", [{{"codec": "x265", "identity_hash": "h"}}],
        [32], {str(tmp_path / "q")!r}, {str(tmp_path / "q.json")!r})
""", tmp_path)
    assert record["stage"] == "prepare_coding"
    assert not {"torch", "mlflow", "compressai", "matplotlib"} & set(record["heavy"]), record["heavy"]


def test_learned_tasks_import_compressai_without_torch_geometric_or_mlflow(tiny_features, tiny_checkpoint, tmp_path):
    (train,) = in_task(f"""
from fcbench.components.stages.hyperprior_train import train_model
train_model({str(tiny_features)!r}, "dinov2", "cls", 0.01, {str(tmp_path / "m.pt")!r}, {str(tmp_path / "curves")!r},
            "cpu", "off", crop=[64, 64], steps=2, batch_size=2, N=8, M=8)
""", tmp_path)
    (infer,) = in_task(f"""
from fcbench.components.stages.hyperprior_infer import infer
infer({str(tiny_features)!r}, {str(tiny_checkpoint)!r}, 0.01, '{{"low": -5, "high": 5, "layout": "dinov2"}}', "cpu",
      {str(tmp_path / "r")!r}, {str(tmp_path / "b")!r}, {str(tmp_path / "res.json")!r})
""", tmp_path)
    for record in (train, infer):
        assert {"torch", "compressai"} <= set(record["heavy"]), record
        assert not (NEVER | {"mlflow"}) & set(record["heavy"]), record


def test_machine_and_report_tasks_import_no_compressai_and_no_mlflow_without_tracking(tiny_cls, tiny_features,
                                                                                        tmp_path):
    (evaluate,) = in_task(f"""
from fcbench.components.stages.evaluate import evaluate_points
evaluate_points({str(tiny_features)!r}, [], [], "dinov2", "cls", {tiny_cls["weights"]!r}, {tiny_cls["data"]!r},
                {tiny_cls["sample_list"]!r}, {tiny_cls["options"]!r})
""", tmp_path)
    assert "torch" in evaluate["heavy"] and not (NEVER | {"mlflow", "compressai"}) & set(evaluate["heavy"]), evaluate
    point = {"model": "dinov2", "task": "cls", "codec": "uncompressed", "rate_point": 0.0, "bpfp": 32.0, "ebpfp": 32.0,
             "metric": "top1", "metric_value": 50.0, "direction": "higher", "feature_mse": 0.0}
    (tmp_path / "points.json").write_text(json.dumps({"points": [point]}))
    (report,) = in_task(f"""
from fcbench.components.stages.report import make_report
make_report([{str(tmp_path / "points.json")!r}], {str(tmp_path / "report")!r}, "x265", "", "off", {{}})
""", tmp_path)
    assert not {"torch", "mlflow", "compressai"} & set(report["heavy"]), report


def test_timing_records_say_where_a_task_spends_its_time(tmp_path):
    """A record per stage run: process start <= work start <= work end, CPU before and during
    the work, and whether the stage succeeded."""
    ok, failed = in_task("""
from fcbench.components.stages.context import stage_context
with stage_context("report", files=1):
    sum(range(10**6))
try:
    with stage_context("evaluate", codec="x265"):
        raise ValueError("broken")
except Exception:
    pass
""", tmp_path)
    assert (ok["stage"], ok["ok"], ok["context"]) == ("report", True, {"files": 1})
    assert (failed["stage"], failed["ok"], failed["context"]) == ("evaluate", False, {"codec": "x265"})
    for r in (ok, failed):
        assert r["process_start"] <= r["work_start"] <= r["work_end"]
        assert r["startup_cpu"] > 0 and r["work_cpu"] >= 0 and r["in_task"] is True
