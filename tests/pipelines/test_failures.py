"""A failing stage surfaces as a clear error naming the stage, the sample and the rate point."""
import hashlib
import io
import json
import os
import shutil

import numpy as np
import pytest

from fcbench.components.codec_identity import identity_hash
from fcbench.components.stages.code_traditional import encode_decode
from fcbench.components.stages.context import StageError, read_error_log, stage_context
from fcbench.pipelines.benchmark import benchmark_traditional
from fcbench.pipelines.local import PipelineFailed, run_local


def poison(features, out, sample_index=1):
    """Copy a feature set and replace one sample by NaNs (manifest hash updated, so only the
    codec's input check can catch it)."""
    shutil.copytree(features, out)
    manifest = json.loads((out / "manifest.json").read_text())
    entry = manifest["samples"][sample_index]
    x = np.load(out / f"{entry['id']}.npy")
    x[..., 0] = np.nan
    buf = io.BytesIO()
    np.save(buf, x, allow_pickle=False)
    (out / f"{entry['id']}.npy").write_bytes(buf.getvalue())
    entry["sha256"] = hashlib.sha256(buf.getvalue()).hexdigest()
    (out / "manifest.json").write_text(json.dumps(manifest))
    return entry["id"]


@pytest.mark.integration  # the kfp local runner
def test_pipeline_error_names_stage_sample_and_rate_point(tiny_cls, tiny_features, tmp_path, monkeypatch):
    monkeypatch.delenv("FCBENCH_SWEEP_JOBS", raising=False)
    bad = poison(tiny_features, tmp_path / "poisoned")
    args = dict(model="dinov2", task="cls", weights_uri=tiny_cls["weights"], data_uri=tiny_cls["data"],
                sample_list_uri=tiny_cls["sample_list"], machine_options=json.loads(tiny_cls["options"]),
                features_uri=str(tmp_path / "poisoned"), codecs=["x265"], qps=[32], anchor="x265")
    with pytest.raises(PipelineFailed) as info:
        run_local(benchmark_traditional, args, tmp_path / "run", cache=False, log_path=tmp_path / "kfp.log")
    message = str(info.value)
    assert "stage prepare_coding" in message
    assert f"sample {bad!r}" in message and "rate point 0" in message
    assert "NaN" in message
    assert any(f["stage"] == "prepare_coding" for f in info.value.failures)
    # the variables the runner set for its tasks are gone again
    assert "FCBENCH_SWEEP_JOBS" not in os.environ and "FCBENCH_ERROR_LOG" not in os.environ


def test_codec_stage_refuses_another_codec_build(tiny_features, tmp_path):
    with pytest.raises(StageError) as info:
        encode_decode(str(tiny_features), "x265", {}, "0" * 64, 32.0, "{}", str(tmp_path / "r"),
                      str(tmp_path / "b"), str(tmp_path / "res.json"))
    message = str(info.value)
    assert "stage code_traditional" in message and "codec=x265" in message and "rate_point=32.0" in message
    assert "identity" in message


def test_codec_stage_refuses_a_fractional_qp(tiny_features, tmp_path):
    from fcbench.codecs import get_codec

    identity = identity_hash(get_codec("x265").identity)
    with pytest.raises(StageError, match="must be an integer"):
        encode_decode(str(tiny_features), "x265", {}, identity, 32.5, "{}", str(tmp_path / "r"),
                      str(tmp_path / "b"), str(tmp_path / "res.json"))


def test_stage_context_records_failures_for_the_local_runner(tmp_path, monkeypatch):
    log = tmp_path / "errors.jsonl"
    monkeypatch.setenv("FCBENCH_ERROR_LOG", str(log))
    with pytest.raises(StageError, match=r"stage evaluate failed \(codec=x265, rate_point=22, sample=s1\): "
                                         r"ValueError: broken"):
        with stage_context("evaluate", codec="x265", rate_point=22) as ctx:
            ctx["sample"] = "s1"
            raise ValueError("broken")
    assert read_error_log(log) == [{"stage": "evaluate", "context": {"codec": "x265", "rate_point": 22, "sample": "s1"},
                                    "error": "ValueError: broken"}]
