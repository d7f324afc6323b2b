"""Sweeps: results, cache hits without codec work, resume after SIGKILL, failures named."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from fcbench.codecs import FeatureSet, get_codec, unpack_container
from fcbench.codecs.backends.x265 import X265Codec
from fcbench.codecs.common.types import rate_tag
from fcbench.codecs.sweeps.cache import JobCache
from fcbench.codecs.sweeps.run import ROW_FIELDS, SweepError, run_sweep

COND = dict(low=-5.0, high=5.0, layout="llama3", bit_depth=10)
OPTS = {"preset": "fast"}


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and not p.name.startswith(".")}


def test_sweep_writes_bitstreams_recon_and_tables(make_featureset, tmp_path):
    fs = make_featureset(3, (1, 1, 32, 256), origin_dtype="bfloat16")
    out = tmp_path / "out"
    res = run_sweep(fs.root, "x265", OPTS, [22, 32, 42], COND, out, jobs=2, progress=False)
    assert res.failures == [] and res.cache_hits == 0 and res.jobs_run == 9
    assert [(r["sample"], r["rate_point"]) for r in res.rows] == [(s, q) for q in (22, 32, 42) for s in fs.ids]
    codec = get_codec("x265", **OPTS)
    for row in res.rows:
        data = (out / "bitstreams" / "x265" / rate_tag(row["rate_point"]) / f"{row['sample']}.bin").read_bytes()
        header, payload = unpack_container(data)
        assert row["bytes"] == len(data) == row["bitstream_bytes"] + row["container_bytes"]
        assert row["bitstream_bytes"] == len(payload) and row["side_bytes"] == 0  # x265: the stream itself
        assert row["points"] == 32 * 256 and row["bpfp"] == 8 * len(payload) / row["points"]
        assert row["container_bpfp"] == 8 * (len(data) - len(payload)) / row["points"]
        assert row["ebpfp"] == pytest.approx(2 * row["bpfp"])  # bf16 origin: 16 bits
        assert row["enc_s"] > 0 and row["dec_s"] > 0 and row["cache_hit"] is False
        recon = FeatureSet.open(out / "recon" / "x265" / rate_tag(row["rate_point"]))
        np.testing.assert_array_equal(recon.read(row["sample"]), codec.decode(data))
        feature = fs.read(row["sample"]).astype(np.float64)
        assert row["mse"] == pytest.approx(np.mean((feature - recon.read(row["sample"])) ** 2), rel=1e-5)
    by_qp = {s["rate_point"]: s for s in res.summary}
    assert by_qp[22]["bpfp"] > by_qp[32]["bpfp"] > by_qp[42]["bpfp"]
    assert by_qp[22]["psnr_q"] > by_qp[32]["psnr_q"] > by_qp[42]["psnr_q"]
    assert by_qp[32]["samples"] == 3
    assert by_qp[32]["bpfp"] == pytest.approx(np.mean([r["bpfp"] for r in res.rows if r["rate_point"] == 32]))
    meta = FeatureSet.open(out / "recon" / "x265" / "qp22").meta
    assert meta["model"] == "llama3" and meta["codec"] == "x265" and meta["rate_point"] == 22
    assert meta["conditions"]["layout"] == "llama3" and meta["codec_identity"]["name"] == "x265"
    assert FeatureSet.open(out / "recon" / "x265" / "qp22").info("sample00").origin_dtype == "bfloat16"
    with open(out / "results.csv") as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == list(ROW_FIELDS) and len(table) == 9
    body = json.loads((out / "results.json").read_text())
    assert len(body["rows"]) == 9 and len(body["summary"]) == 3 and body["identity"]["name"] == "x265"


def test_rerun_is_all_cache_hits_and_does_no_codec_work(make_featureset, tmp_path, monkeypatch):
    fs = make_featureset(2, (1, 1, 24, 128))
    out = tmp_path / "out"
    first = run_sweep(fs.root, "x265", OPTS, [27, 37], COND, out, jobs=2, progress=False)
    before = snapshot(out / "bitstreams")
    mtimes = {p: p.stat().st_mtime_ns for p in (out / "bitstreams").rglob("*.bin")}

    def no_codec_work(*args, **kwargs):
        raise AssertionError("codec work on a finished sweep")

    monkeypatch.setattr(X265Codec, "encode_frame", no_codec_work)
    monkeypatch.setattr(X265Codec, "decode_frame", no_codec_work)
    again = run_sweep(fs.root, "x265", OPTS, [27, 37], COND, out, jobs=1, progress=False)
    assert again.cache_hits == 4 and again.jobs_run == 0
    assert snapshot(out / "bitstreams") == before
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes
    def strip(rows):
        return [{k: v for k, v in r.items() if k != "cache_hit"} for r in rows]
    assert strip(again.rows) == strip(first.rows)


def test_lost_outputs_are_rebuilt_from_the_cache_without_encoding(make_featureset, tmp_path, monkeypatch):
    fs = make_featureset(2, (1, 1, 24, 128))
    out = tmp_path / "out"
    first = run_sweep(fs.root, "x265", OPTS, [32], COND, out, jobs=1, progress=False)
    recon_dir = out / "recon" / "x265" / "qp32"
    recon_before = snapshot(recon_dir)
    for p in list(recon_dir.iterdir()) + list((out / "bitstreams" / "x265" / "qp32").iterdir()):
        p.unlink()
    monkeypatch.setattr(X265Codec, "encode_frame", lambda *a, **k: (_ for _ in ()).throw(AssertionError("encoded")))
    again = run_sweep(fs.root, "x265", OPTS, [32], COND, out, jobs=1, progress=False)
    assert again.cache_hits == 2 and [r["bytes"] for r in again.rows] == [r["bytes"] for r in first.rows]
    assert {k: v for k, v in snapshot(recon_dir).items() if k.endswith(".npy")} == \
           {k: v for k, v in recon_before.items() if k.endswith(".npy")}
    assert FeatureSet.open(recon_dir).verify() == []


def test_parallel_equals_serial(make_featureset, tmp_path):
    fs = make_featureset(2, (1, 1, 24, 128))
    a = run_sweep(fs.root, "x265", OPTS, [22, 37], COND, tmp_path / "serial", jobs=1, progress=False)
    b = run_sweep(fs.root, "x265", OPTS, [22, 37], COND, tmp_path / "parallel", jobs=2, progress=False)
    assert snapshot(tmp_path / "serial" / "bitstreams") == snapshot(tmp_path / "parallel" / "bitstreams")
    assert [r["bpfp"] for r in a.rows] == [r["bpfp"] for r in b.rows]


def test_failed_job_is_named_and_others_are_kept(make_featureset, tmp_path):
    fs = make_featureset(3, (1, 1, 24, 128))
    np.save(fs.root / "sample01.npy", np.ones((1, 1, 24, 128), np.float32))  # no longer matches its sha256
    out = tmp_path / "out"
    with pytest.raises(SweepError) as info:
        run_sweep(fs.root, "x265", OPTS, [27, 37], COND, out, jobs=2, progress=False)
    msg = str(info.value)
    assert "sample 'sample01' at rate point 27" in msg and "sample 'sample01' at rate point 37" in msg
    assert "sha256" in msg and "sample00" not in msg
    res = info.value.result
    assert sorted({r["sample"] for r in res.rows}) == ["sample00", "sample02"] and len(res.rows) == 4
    body = json.loads((out / "results.json").read_text())
    assert len(body["rows"]) == 4 and {f["sample"] for f in body["failures"]} == {"sample01"}


def test_bad_arguments_fail_before_any_job(make_featureset, tmp_path):
    fs = make_featureset(1, (1, 1, 16, 64))
    with pytest.raises(ValueError, match="QP 99"):
        run_sweep(fs.root, "x265", OPTS, [22, 99], COND, tmp_path / "o", progress=False)
    with pytest.raises(ValueError, match="low and high"):
        run_sweep(fs.root, "x265", OPTS, [22], {"low": -5}, tmp_path / "o", progress=False)
    assert not (tmp_path / "o" / "bitstreams").exists()


def test_reference_points_in_a_sweep(make_featureset, tmp_path):
    fs = make_featureset(2, (1, 1, 16, 64))
    raw = run_sweep(fs.root, "bypass", {}, [0], COND, tmp_path / "o", jobs=1, progress=False)
    zst = run_sweep(fs.root, "lossless", {"level": 3}, [0], COND, tmp_path / "o", jobs=1, progress=False)
    assert all(r["psnr_q"] == float("inf") for r in raw.rows + zst.rows)
    assert raw.summary[0]["bpfp"] > zst.summary[0]["bpfp"]
    assert raw.rows[0]["bitstream_bytes"] == 16 * 64 * 10 // 8 and raw.rows[0]["bpfp"] == 10.0
    assert json.loads((tmp_path / "o" / "results.json").read_text(), parse_constant=float)["codec"] == "lossless"


KILL_SCRIPT = """
import sys
from fcbench.codecs.sweeps.run import run_sweep
run_sweep(sys.argv[1], "x265", {"preset": "slow"}, [22, 27, 32], dict(low=-5.0, high=5.0, layout="llama3"),
          sys.argv[2], jobs=2, progress=False)
"""


@pytest.mark.slow  # a sweep subprocess killed and resumed
def test_sigkill_then_resume_redoes_only_unfinished_jobs(make_featureset, tmp_path):
    fs = make_featureset(6, (1, 1, 96, 512))
    out = tmp_path / "out"
    cache = JobCache(out / "cache")
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(fs.root), str(out)], start_new_session=True)
    deadline = time.monotonic() + 120
    while len(cache.keys()) < 4 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its workers, mid-flight
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the sweep finished before it could be killed"
    time.sleep(0.2)
    finished = {k: (cache.get(k).container, cache.get(k).metrics) for k in cache.keys()}
    assert 4 <= len(finished) < 18
    res = run_sweep(fs.root, "x265", {"preset": "slow"}, [22, 27, 32], dict(low=-5.0, high=5.0, layout="llama3"),
                    out, jobs=2, progress=False)
    assert len(res.rows) == 18 and res.failures == []
    encoded_now = [r for r in res.rows if not r["cache_hit"]]
    assert len(encoded_now) == 18 - len(finished)  # only unfinished jobs were encoded
    for key, (container, metrics) in finished.items():  # nothing written before was lost
        assert cache.get(key).container == container and cache.get(key).metrics == metrics
    codec = get_codec("x265", preset="slow")
    for qp in (22, 27, 32):
        recon = FeatureSet.open(out / "recon" / "x265" / rate_tag(qp))
        assert recon.verify() == [] and len(recon) == 6
        for sample in fs.ids:
            data = (out / "bitstreams" / "x265" / rate_tag(qp) / f"{sample}.bin").read_bytes()
            np.testing.assert_array_equal(recon.read(sample), codec.decode(data))


def test_the_sweep_runs_a_learned_unit_frame_codec_unchanged(make_featureset, tmp_path):
    """Nothing in the sweep is codec-specific: the hyperprior (float frames, lambda rate points,
    checkpoints option) runs through it with tiny random-weight checkpoints."""
    pytest.importorskip("compressai")
    from fcbench.codecs.hyperprior.checkpoint import save_checkpoint
    from fcbench.codecs.hyperprior.model import ModelConfig, build_model

    checkpoints = {}
    for lam, seed in ((0.001, 0), (0.01, 1)):
        import torch

        torch.manual_seed(seed)
        cfg = ModelConfig(N=8, M=8)
        path = tmp_path / f"hp{lam}.pt"
        save_checkpoint(path, {"config": cfg.as_dict(), "lmbda": lam, "model": build_model(cfg).state_dict()})
        checkpoints[lam] = str(path)
    fs = make_featureset(2, (1, 1, 32, 64))
    cond = dict(low=-5.0, high=5.0, layout="llama3")
    # jobs=1: worker processes would each import torch (~10 s); parallelism is tested with x265
    res = run_sweep(fs.root, "hyperprior", {"checkpoints": checkpoints}, [0.001, 0.01], cond, tmp_path / "o",
                    jobs=1, progress=False)
    assert len(res.rows) == 4 and all(r["psnr_q"] is None and r["bpfp"] > 0 for r in res.rows)
    assert (tmp_path / "o" / "bitstreams" / "hyperprior" / "lambda0.001" / "sample00.bin").is_file()
    assert FeatureSet.open(tmp_path / "o" / "recon" / "hyperprior" / "lambda0.01").meta["rate_point"] == 0.01
    again = run_sweep(fs.root, "hyperprior", {"checkpoints": checkpoints}, [0.001, 0.01], cond, tmp_path / "o",
                      jobs=1, progress=False)
    assert again.cache_hits == 4 and again.jobs_run == 0
