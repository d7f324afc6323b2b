"""Fault injection: signal commands at random moments, repeatedly; count losses and leftovers.

    .venv/bin/python benchmarks/fault_injection.py                       # every case, 10 runs each
    .venv/bin/python benchmarks/fault_injection.py --case sweep-kill9 --runs 30

Cases (add one with @case, or @error_case for a command that must fail; the harness is
benchmarks/fault_harness.py):
  sweep-kill9    kill -9 the main process of `fcbench encode -j 2` (x265, 5 QPs) at a random moment
  sweep-sigterm  SIGTERM instead: it must exit 143 and keep every finished job in its table
  push-kill9     kill -9 `fcbench data push` of a feature set (24 x 1 MiB) to a loopback S3 server
  upload-kill9   the same with one 96 MiB file: kills land inside its 6-part multipart upload
  s3-blackhole   (must fail) `fcbench data ls` against an endpoint that accepts connections and
                 never answers, with the default settings and with small ones
  s3-trickle     (must fail) `fcbench data ls/push/pull` against an endpoint that answers at once,
                 then sends one byte every 2 s, with the default settings and with small ones
  s3-yes         (must fail) `fcbench data push` to an endpoint that answers 200 to everything
  tool-hang      (must fail) `fcbench encode --codec vtm` with an encoder that never exits and has
                 a child of its own, under FCBENCH_TOOL_TIMEOUT_BASE=3, with -j 1 and -j 2
  tool-kill9     kill -9 of that command's main process while its encoders run: none may remain
  sweep-memory   the peak memory of a `-j 2` sweep's main process on sets of 4, 16 and 48 samples
                 of 16 MB: it must not grow with the set

After each signal: no process of the command's session may remain (forkserver, resource tracker,
workers), and a rerun must finish with a table equal, row for row, to an undisturbed run's,
every reconstruction intact. Pushes are rerun to completion too: the stored folder must verify and
name the source's samples and hashes, the source be unchanged, no incomplete multipart upload be
left, and a reader must not have seen a manifest or index naming missing or wrong files right
after the kill. Prints one line of counts per case, with the hidden temp files that writes cut
short by SIGKILL leave (never read, they lose nothing); must-fail cases print the seconds to
their one-line error and what was left running.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
from fault_harness import ErrorOutcome, Outcome, error_table, signal_at_random, summary_table, time_to_error

CASES: dict[str, Callable[[Path, random.Random], Outcome]] = {}
ERROR_CASES: dict[str, Callable[[Path], list[ErrorOutcome]]] = {}
MEASURES: dict[str, Callable[[Path], tuple[str, bool]]] = {}  # name -> (its table, whether it failed)
QPS = ("22", "27", "32", "37", "42")
MiB = 1 << 20


def case(name: str):
    def register(fn):
        CASES[name] = fn
        return fn
    return register


def error_case(name: str):
    def register(fn):
        ERROR_CASES[name] = fn
        return fn
    return register


def measure_case(name: str):
    def register(fn):
        MEASURES[name] = fn
        return fn
    return register


def _features(root: Path) -> Path:
    from fcbench.codecs import FeatureSet

    if not (root / "manifest.json").is_file():
        rng = np.random.default_rng(0)
        with FeatureSet.create(root, "llama3", "csr", "synthetic") as fs:
            for i in range(6):
                smooth = np.cumsum(rng.normal(size=(1, 1, 64, 256)), axis=3) / 8
                fs.write(f"s{i}", smooth.astype(np.float32))
    return root


def _encode(features: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "fcbench.pipelines.cli", "encode", "--features", str(features), "--codec", "x265",
            "--qp", *QPS, "--out", str(out), "-j", "2", "--no-progress", "--low", "-20", "--high", "20"]


def _rows(out: Path) -> dict:
    body = json.loads((out / "results.json").read_text())
    return {(r["rate_point"], r["sample"]): (r["bpfp"], r["mse"]) for r in body["rows"]}


_SWEEP_SECONDS: list[float] = []  # how long an undisturbed sweep works, from its folder's creation


def _reference(work: Path) -> dict:
    """The table of an undisturbed sweep (computed once, timed for the signal window)."""
    out = work / "reference"
    if not (out / "results.json").is_file():
        import subprocess

        proc = subprocess.Popen(_encode(_features(work / "features"), out), stdout=subprocess.DEVNULL)
        while not out.exists() and proc.poll() is None:
            time.sleep(0.02)
        t0 = time.monotonic()
        if proc.wait() != 0:
            raise RuntimeError(f"the undisturbed sweep failed (exit {proc.returncode})")
        _SWEEP_SECONDS.append(time.monotonic() - t0)
    return _rows(out)


def _check_after_rerun(work: Path, out: Path) -> list[str]:
    """Rerun to completion and compare with the undisturbed run: what is missing or different,
    and whether every reconstruction is intact."""
    import subprocess

    from fcbench.codecs import FeatureSet

    done = subprocess.run(_encode(work / "features", out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if done.returncode != 0:
        return [f"rerun failed: {done.stderr.decode().strip().splitlines()[-1:]}"]
    losses = []
    want, got = _reference(work), _rows(out)
    losses += [f"row {k} missing" for k in want if k not in got]
    losses += [f"row {k} differs: {got[k]} != {want[k]}" for k in want if k in got and got[k] != want[k]]
    for recon in sorted((out / "recon").glob("*/*")):
        losses += [f"{recon.name}: {p}" for p in FeatureSet.open(recon).verify()]
    return losses


def _sweep_case(signum: int, work: Path, rng: random.Random) -> Outcome:
    out = work / "out"
    shutil.rmtree(out, ignore_errors=True)
    features = _features(work / "features")
    _reference(work)
    # From the moment the sweep has started (its folder exists) to about when it would end.
    window = (0.0, 0.9 * _SWEEP_SECONDS[0]) if _SWEEP_SECONDS else (0.0, 5.0)
    outcome = signal_at_random(_encode(features, out), signum, window, rng, ready=out.exists)
    if signum == signal.SIGTERM and outcome.mid_run and outcome.exit_code != 128 + signal.SIGTERM:
        outcome.losses.append(f"exit code {outcome.exit_code} after SIGTERM, not {128 + signal.SIGTERM}")
    if signum == signal.SIGTERM and outcome.mid_run and outcome.exit_code == 128 + signal.SIGTERM:
        kept = len(_rows(out)) if (out / "results.json").is_file() else 0
        recorded = sum(len(json.loads(m.read_text())["samples"]) for m in (out / "recon").glob("*/*/manifest.json"))
        if kept != recorded:
            outcome.losses.append(f"table kept {kept} rows, the reconstructions record {recorded}")
    outcome.losses += _check_after_rerun(work, out)
    # A process killed inside an atomic write leaves its temp file (a hidden .tmp beside the
    # target, never read): counted apart, it loses nothing.
    outcome.litter = [str(p) for p in out.rglob(".*.tmp")]
    return outcome


@case("sweep-kill9")
def sweep_kill9(work: Path, rng: random.Random) -> Outcome:
    return _sweep_case(signal.SIGKILL, work, rng)


@case("sweep-sigterm")
def sweep_sigterm(work: Path, rng: random.Random) -> Outcome:
    return _sweep_case(signal.SIGTERM, work, rng)


# ---- pushes and uploads to object storage ---------------------------------------------------------
_S3: dict = {}  # the loopback S3 server of the storage cases: started once, stopped at exit


def _s3_env() -> dict[str, str]:
    """The environment that reaches the loopback S3 server (and its bucket as `bucket`)."""
    if not _S3:
        import atexit
        import contextlib

        from tests.faults import moto_s3

        stack = contextlib.ExitStack()
        env, bucket = stack.enter_context(moto_s3())
        atexit.register(stack.close)
        _S3.update(env, bucket=bucket)
    return dict(_S3)


def _push(source: Path, uri: str) -> list[str]:
    return [sys.executable, "-m", "fcbench.pipelines.cli", "data", "push", str(source), uri]


def _stored_problems(storage) -> list[str]:
    """What a reader trusting the folder's index or manifest would find wrong right now."""
    from fcbench.codecs.features.featureset import MANIFEST
    from fcbench.components.storage import INDEX

    problems = storage.verify_dir("") if storage.exists(INDEX) else []
    return problems + (storage.verify_featureset("") if storage.exists(MANIFEST) else [])


def _samples(fs_or_manifest) -> dict:
    return {sid: fs_or_manifest.info(sid).sha256 for sid in fs_or_manifest.ids}


_PUSH_SECONDS: dict[str, float] = {}


def _push_case(name: str, work: Path, rng: random.Random, make_source: Callable[[Path], None]) -> Outcome:
    """kill -9 a push at a random moment of an uninterrupted push's duration, rerun it to the end,
    and check the stored folder, the source and what the kill left."""
    import hashlib
    import subprocess

    from fcbench.codecs.features.featureset import FeatureSet, parse_manifest
    from fcbench.components.storage import S3Storage, StorageConfig, open_storage

    s3 = _s3_env()
    bucket = s3.pop("bucket")
    env = {**os.environ, **s3}
    source = work / name / "source"
    if not source.is_dir():
        make_source(source)
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sorted(source.rglob("*")) if p.is_file())).hexdigest()
    if name not in _PUSH_SECONDS:  # an uninterrupted push here, now: the faster of two
        runs = []
        for n in range(2):
            t0 = time.monotonic()
            subprocess.run(_push(source, f"s3://{bucket}/{name}/calibration{n}"), env=env, check=True,
                           stdout=subprocess.DEVNULL)
            runs.append(time.monotonic() - t0)
        _PUSH_SECONDS[name] = min(runs)
    full = _PUSH_SECONDS[name]
    uri = f"s3://{bucket}/{name}/run{len(list((work / name).glob('run*')))}"
    (work / name / uri.rsplit("/", 1)[1]).mkdir()
    # the first ~40 % is the interpreter starting and hashing the source: kills land after it
    outcome = signal_at_random(_push(source, uri), signal.SIGKILL, (0.4 * full, full), rng, env=env)
    storage = open_storage(uri, StorageConfig.from_env(s3))
    assert isinstance(storage, S3Storage)  # multipart uploads are S3's
    left = storage.incomplete_uploads()
    outcome.counts = {"uploads left by the kill": len(left), "aborted by the next push": 0}
    if outcome.mid_run:
        outcome.losses += [f"right after the kill a reader saw: {p}" for p in _stored_problems(storage)[:2]]
    done = subprocess.run(_push(source, uri), env=env, capture_output=True, text=True)
    if done.returncode != 0:
        outcome.losses.append(f"rerun failed: {done.stderr.strip().splitlines()[-1:]}")
        return outcome
    if " interrupted upload(s) cleaned up" in done.stdout:
        outcome.counts["aborted by the next push"] = int(done.stdout.split(" interrupted upload(s)")[0].rsplit(" ", 1)[1])
    outcome.losses += _stored_problems(storage)
    if (source / "manifest.json").is_file():
        _, stored = parse_manifest(json.loads(storage.get_bytes("manifest.json")), uri)
        if {k: v.sha256 for k, v in stored.items()} != _samples(FeatureSet.open(source)):
            outcome.losses.append("the stored manifest names other samples or hashes than the source's")
    if hashlib.sha256(b"".join(p.read_bytes() for p in sorted(source.rglob("*")) if p.is_file())).hexdigest() != digest:
        outcome.losses.append("the source folder changed")
    outcome.stored = [f"incomplete multipart upload of {key}" for key in storage.incomplete_uploads()]
    return outcome


def _small_samples(root: Path) -> None:
    from fcbench.codecs import FeatureSet

    rng = np.random.default_rng(0)
    with FeatureSet.create(root, "dinov2", "cls", "block 40") as fs:
        for i in range(24):
            fs.write(f"s{i:03d}", rng.standard_normal((1, 1, 512, 512)).astype(np.float32))  # 1 MiB each


def _one_big_file(root: Path) -> None:
    root.mkdir(parents=True)
    (root / "big.bin").write_bytes(np.random.default_rng(1).bytes(96 * MiB))  # 6 parts of 16 MiB


@case("push-kill9")
def push_kill9(work: Path, rng: random.Random) -> Outcome:
    return _push_case("push-kill9", work, rng, _small_samples)


@case("upload-kill9")
def upload_kill9(work: Path, rng: random.Random) -> Outcome:
    return _push_case("upload-kill9", work, rng, _one_big_file)


# ---- commands that must fail, soon and clearly ---------------------------------------------------
def _endpoint_env(endpoint: str, extra: dict[str, str]) -> dict[str, str]:
    """This process's environment with only the given S3 endpoint (and `extra`) configured."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FCBENCH_S3_")}
    env.update({"FCBENCH_S3_ENDPOINT": endpoint, "FCBENCH_S3_ACCESS_KEY": "k", "FCBENCH_S3_SECRET_KEY": "s", **extra})
    return env


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "fcbench.pipelines.cli", *args]


def _one_line_naming(o: ErrorOutcome, endpoint: str, words: str) -> None:
    if o.exit_code != 1 or len(o.stderr) != 1 or endpoint not in o.stderr[0] or words not in o.stderr[0]:
        o.losses.append(f"no one-line error naming the endpoint and saying {words!r}")


@error_case("s3-blackhole")
def s3_blackhole(work: Path) -> list[ErrorOutcome]:
    from tests.faults import BlackHole

    outcomes = []
    with BlackHole() as hole:
        for label, extra in (("default settings", {}),
                             ("read 2 s, 1 retry", {"FCBENCH_S3_READ_TIMEOUT": "2", "FCBENCH_S3_RETRIES": "1"})):
            before = hole.connections
            o = time_to_error(label, _cli("data", "ls", "s3://bucket/prefix"), _endpoint_env(hole.endpoint, extra))
            o.label += f" ({hole.connections - before} connections)"
            _one_line_naming(o, hole.endpoint, "cannot reach")
            outcomes.append(o)
    return outcomes


@error_case("s3-trickle")
def s3_trickle(work: Path) -> list[ErrorOutcome]:
    """An endpoint that answers 200 at once and then sends one byte every 2 s: ls, push and pull."""
    from tests.faults import TrickleServer

    source = work / "trickle-set"
    source.mkdir(parents=True, exist_ok=True)
    (source / "a.bin").write_bytes(os.urandom(1 << 20))
    commands = {"ls": ("data", "ls", "s3://bucket/p"), "push": ("data", "push", str(source), "s3://bucket/p"),
                "pull": ("data", "pull", "s3://bucket/p", str(work / "trickle-pulled"))}
    outcomes = []
    with TrickleServer(interval=2.0) as server:
        for label, extra in (("default settings", {}),
                             ("read 2 s, 1 retry", {"FCBENCH_S3_READ_TIMEOUT": "2", "FCBENCH_S3_TRANSFER_TIMEOUT": "2",
                                                     "FCBENCH_S3_RETRIES": "1"})):
            for name, args in commands.items():
                o = time_to_error(f"{name}, {label}", _cli(*args), _endpoint_env(server.endpoint, extra))
                _one_line_naming(o, server.endpoint, "did not finish answering in time")
                outcomes.append(o)
    return outcomes


@error_case("s3-yes")
def s3_yes(work: Path) -> list[ErrorOutcome]:
    """A push to an endpoint that answers 200, empty, to every request (and stores nothing)."""
    from tests.faults import YesServer

    source = work / "yes-set"
    source.mkdir(parents=True, exist_ok=True)
    for i in range(3):
        (source / f"s{i}.bin").write_bytes(os.urandom(1 << 16))
    with YesServer() as server:
        o = time_to_error("push 3 files", _cli("data", "push", str(source), "s3://bucket/p"),
                          _endpoint_env(server.endpoint, {"FCBENCH_S3_RETRIES": "0"}))
        if o.exit_code != 1 or len(o.stderr) != 1 or any("transferred" in line for line in o.stderr):
            o.losses.append("no one-line error (or a claim of success)")
    return [o]


def _hanging_vtm(root: Path) -> tuple[Path, Callable[[str], list[str]]]:
    """A fake VTM encoder that never exits and has a child (it appends both pids to
    root/children.pid), a feature set, and the `fcbench encode` command for a given -j."""
    from fcbench.codecs import FeatureSet

    pidfile = root / "children.pid"
    encoder = root / "EncoderAppStatic"
    root.mkdir(parents=True, exist_ok=True)
    encoder.write_text('#!/bin/sh\ncase "$1" in --help) echo "VVCSoftware: VTM Encoder Version 23.13"; exit 0;; esac\n'
                       f"echo $$ >> {pidfile}; sleep 600 & echo $! >> {pidfile}; wait\n")
    encoder.chmod(0o755)
    (root / "encoder_intra_vtm.cfg").write_text("")
    if not (root / "set" / "manifest.json").is_file():
        with FeatureSet.create(root / "set", "llama3", "csr", "layer 32") as fs:
            for i in range(2):
                fs.write(f"q{i}", np.random.default_rng(i).standard_normal((1, 1, 16, 64)).astype(np.float32))

    def command(jobs: str) -> list[str]:
        return _cli("encode", "--features", str(root / "set"), "--codec", "vtm", "--qp", "32", "--low", "-5", "--high", "5",
                    "--layout", "llama3", "--option", f"encoder={encoder}", "--option", f"cfg={root / 'encoder_intra_vtm.cfg'}",
                    "--option", "decoder=pyav", "--out", str(root / f"out{jobs}"), "-j", jobs, "--no-progress")
    return pidfile, command


def _tool_pids(pidfile: Path) -> list[int]:
    return [int(p) for p in pidfile.read_text().split()] if pidfile.is_file() else []


@error_case("tool-hang")
def tool_hang(work: Path) -> list[ErrorOutcome]:
    from tests.faults import is_running

    pidfile, command = _hanging_vtm(work / "tool-hang")
    outcomes = []
    for jobs in ("1", "2"):
        pidfile.unlink(missing_ok=True)
        o = time_to_error(f"-j {jobs}", command(jobs), {**os.environ, "FCBENCH_TOOL_TIMEOUT_BASE": "3",
                                                         "FCBENCH_TOOL_TIMEOUT_PER_MPIXEL": "1"})
        pids = _tool_pids(pidfile)
        o.leftovers += [(pid, 0, "the tool or its child") for pid in pids if is_running(pid)]
        o.label += f" ({len(pids) // 2} tool runs)"
        if o.exit_code != 1 or not any("did not finish within 3 s" in line for line in o.stderr):
            o.losses.append("no error naming the time limit")
        outcomes.append(o)
    return outcomes


@error_case("tool-kill9")
def tool_kill9(work: Path) -> list[ErrorOutcome]:
    """kill -9 of `fcbench encode --codec vtm` while its encoders run: the encoders and their
    children must go too. Seconds are from the kill to the last of them gone."""
    from tests.faults import is_running

    pidfile, command = _hanging_vtm(work / "tool-kill9")
    outcomes = []
    for jobs in ("1", "2"):
        pidfile.unlink(missing_ok=True)
        proc = subprocess.Popen(command(jobs), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 60
        while len(_tool_pids(pidfile)) < 2 * int(jobs) and time.monotonic() < deadline:
            time.sleep(0.05)
        pids = _tool_pids(pidfile)
        os.kill(proc.pid, signal.SIGKILL)  # the main process only, as a user or the OOM killer would
        proc.wait()
        t0 = time.monotonic()
        while any(is_running(p) for p in pids) and time.monotonic() - t0 < 10:
            time.sleep(0.05)
        o = ErrorOutcome(f"-j {jobs} ({len(pids) // 2} encoders running)", time.monotonic() - t0, proc.returncode,
                         ["killed with -9 while its encoders ran"], [(p, 0, "tool or its child") for p in pids if is_running(p)])
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if not pids:
            o.losses.append("no encoder started within 60 s")
        outcomes.append(o)
    return outcomes


def _peak_rss_mb(cmd: list[str]) -> tuple[float, int]:
    """(the peak resident memory of `cmd`'s own process in MB, its exit status): its VmHWM,
    read until it exits (the high-water mark only grows, so the last reading is the peak)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    peak_kb = 0
    while proc.poll() is None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            status = Path(f"/proc/{proc.pid}/status").read_text()
            peak_kb = int(status.split("VmHWM:")[1].split()[0])
        time.sleep(0.05)
    return peak_kb / 1024, proc.returncode


@measure_case("sweep-memory")
def sweep_memory(work: Path) -> tuple[str, bool]:
    """The main process of `fcbench encode --codec bypass -j 2` on sets of 16 MB samples: its
    peak memory must not grow with the set (the goal: flat)."""
    from fcbench.codecs import FeatureSet

    rng = np.random.default_rng(0)
    lines, peaks = [], []
    for count in (4, 16, 48):
        root = work / f"memory-{count}"
        with FeatureSet.create(root / "set", "llama3", "csr", "synthetic") as fs:
            for i in range(count):
                fs.write(f"s{i}", rng.standard_normal((1, 1, 1024, 4096)).astype(np.float32))
        peak, code = _peak_rss_mb(_cli("encode", "--features", str(root / "set"), "--codec", "bypass", "--rate-points", "0",
                                       "--low", "-5", "--high", "5", "--layout", "generic", "--out", str(root / "out"),
                                       "-j", "2", "--no-progress"))
        peaks.append(peak)
        lines.append(f"    {count:3d} samples ({count * 16:4d} MB): main process peak {peak:6.0f} MB, exit {code}")
        shutil.rmtree(root, ignore_errors=True)
    grew = peaks[-1] > peaks[0] + 64  # more than a few samples' worth: it grows with the set
    verdict = "GROWS with the set" if grew else "flat"
    return f"sweep-memory     {verdict}\n" + "\n".join(lines), grew


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", action="append", choices=sorted([*CASES, *ERROR_CASES, *MEASURES]), help="default: every case")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", type=Path, help="working folder (default: a temp folder, removed)")
    args = ap.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="fcbench-faults-"))
    rng = random.Random(args.seed)
    print(f"fault injection, {args.runs} runs per case; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    failed = False
    try:
        for name in args.case or [*sorted(CASES), *sorted(ERROR_CASES), *sorted(MEASURES)]:
            if name in MEASURES:
                table, bad = MEASURES[name](work)
                print(table, flush=True)
                failed |= bad
                continue
            if name in ERROR_CASES:
                errors = ERROR_CASES[name](work)
                print(error_table(name, errors), flush=True)
                failed |= any(o.leftovers or o.losses for o in errors)
                continue
            outcomes = [CASES[name](work, rng) for _ in range(args.runs)]
            print(summary_table(name, outcomes), flush=True)
            failed |= any(o.leftovers or o.losses or o.stored for o in outcomes)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
