"""Sweeps that share a folder, resume over damaged outputs, or are killed (issue #12, items 2, 6, 9).

Real `fcbench encode` processes on x265; nothing is mocked."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fcbench.codecs import FeatureSet
from fcbench.codecs.common.types import rate_tag
from fcbench.codecs.features.featureset import JOURNAL
from fcbench.codecs.sweeps.run import run_sweep
from fcbench.pipelines.cli import main
from tests.codecs.traditional.helpers import smooth_feature

COND = ["--low", "-20", "--high", "20", "--layout", "generic"]


@pytest.fixture
def features(tmp_path: Path) -> Path:
    with FeatureSet.create(tmp_path / "feat", model="llama3", task="csr", split_point="layer 32") as fs:
        for i in range(4):
            fs.write(f"s{i}", smooth_feature((1, 1, 48, 192), seed=i, scale=10))
    return fs.root


def _encode(features: Path, out: Path, *qps: int) -> list[str]:
    return ["encode", "--features", str(features), "--codec", "x265", "--qp", *map(str, qps), "--out", str(out),
            "-j", "2", "--no-progress", *COND]


def _table(out: Path) -> tuple[set, set]:
    """(codec, rate point, sample) of results.json's rows and of results.csv's."""
    body = json.loads((out / "results.json").read_text())
    json_rows = {(r["codec"], r["rate_point"], r["sample"]) for r in body["rows"]}
    with open(out / "results.csv", newline="") as f:
        csv_rows = {(r["codec"], int(r["rate_point"]), r["sample"]) for r in csv.DictReader(f)}
    return json_rows, csv_rows


def _want(qps, samples=4) -> set:
    return {("x265", q, f"s{i}") for q in qps for i in range(samples)}


def test_two_encodes_into_one_folder_add_up(features, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(_encode(features, out, 22, 27, 32)) == 0
    assert main(_encode(features, out, 32, 37, 42)) == 0
    assert _table(out) == (_want([22, 27, 32, 37, 42]),) * 2
    summary = json.loads((out / "results.json").read_text())["summary"]
    assert [s["rate_point"] for s in summary] == [22, 27, 32, 37, 42] and all(s["samples"] == 4 for s in summary)
    assert main(_encode(features, out, 27)) == 0  # a rerun with other QPs keeps the table too
    assert _table(out)[0] == _want([22, 27, 32, 37, 42])


def test_concurrent_encodes_into_one_folder_lose_no_rows(features, tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "fcbench.pipelines.cli"]
    procs = [subprocess.Popen([*cmd, *_encode(features, out, *qps)], stdout=subprocess.DEVNULL)
             for qps in ((22, 27, 32), (32, 37, 42))]  # QP 32 in both
    assert [p.wait(timeout=600) for p in procs] == [0, 0]
    assert _table(out) == (_want([22, 27, 32, 37, 42]),) * 2
    recon = FeatureSet.open(out / "recon" / "x265" / rate_tag(32))
    assert sorted(recon.ids) == [f"s{i}" for i in range(4)] and recon.verify() == [] and not recon.pending


def test_a_damaged_reconstruction_is_redone_on_resume(features, tmp_path):
    out = tmp_path / "out"
    first = run_sweep(features, "x265", {}, [27], {"low": -20, "high": 20, "layout": "generic"}, out, jobs=1,
                      progress=False)
    recon_dir = out / "recon" / "x265" / rate_tag(27)
    damaged = recon_dir / "s1.npy"
    data = bytearray(damaged.read_bytes())
    data[-8:] = b"\x00" * 8  # same size, other values
    damaged.write_bytes(bytes(data))
    assert FeatureSet.open(recon_dir).verify() != []
    again = run_sweep(features, "x265", {}, [27], {"low": -20, "high": 20, "layout": "generic"}, out, jobs=1,
                      progress=False)
    assert FeatureSet.open(recon_dir).verify() == []  # repaired, from the cached container
    assert again.jobs_run == 1 and again.cache_hits == 4
    assert [r["bpfp"] for r in again.rows] == [r["bpfp"] for r in first.rows]


def _session(sid: int) -> list[int]:
    """Live processes of a session (zombies, already dead, are not counted)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":  # state, ppid, pgrp, session
            pids.append(int(stat.parent.name))
    return pids


def _start_and_signal(features: Path, out: Path, signum: int) -> tuple[subprocess.Popen, list[int]]:
    """Start a 2-worker sweep in its own session; once it has recorded a finished job (a line in
    a reconstruction's journal), send `signum` to its main process. Returns the process and the
    session's processes seen before the signal."""
    proc = subprocess.Popen([sys.executable, "-m", "fcbench.pipelines.cli", *_encode(features, out, 22, 27, 32, 37, 42)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 300
    while not list((out / "recon").glob(f"*/*/{JOURNAL}")):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read().decode() if proc.stderr else ""
        time.sleep(0.05)
    before = _session(proc.pid)
    os.kill(proc.pid, signum)
    return proc, before


def _wait_empty(sid: int, seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while _session(sid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return _session(sid)


@pytest.mark.slow
def test_a_killed_sweep_leaves_nothing_running_and_loses_nothing(features, tmp_path):
    out = tmp_path / "out"
    proc, before = _start_and_signal(features, out, signal.SIGKILL)
    assert len(before) >= 3  # the sweep, its forkserver and workers were running
    proc.wait()
    left = _wait_empty(proc.pid, 20)
    for pid in left:  # do not leave them to the next test either
        os.kill(pid, signal.SIGKILL)
    assert left == [], "forkserver, resource tracker or workers outlived the killed sweep"
    assert main(_encode(features, out, 22, 27, 32, 37, 42)) == 0
    assert _table(out)[0] == _want([22, 27, 32, 37, 42])


@pytest.mark.slow
def test_sigterm_stops_the_sweep_cleanly_keeping_finished_jobs(features, tmp_path):
    out = tmp_path / "out"
    proc, _ = _start_and_signal(features, out, signal.SIGTERM)
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    assert "stopped by SIGTERM" in proc.stderr.read().decode()
    assert _wait_empty(proc.pid, 20) == []
    kept, _ = _table(out)
    assert 0 < len(kept) < 20  # the finished jobs, in the table
    recon = FeatureSet.open(out / "recon" / "x265" / rate_tag(22))
    assert recon.verify() == [] and not recon.pending
    assert main(_encode(features, out, 22, 27, 32, 37, 42)) == 0
    assert _table(out)[0] == _want([22, 27, 32, 37, 42])
