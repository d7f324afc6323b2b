"""Fault-injection harness: run a command in its own session, signal it at a random moment, then
count what it left running. Cases (benchmarks/fault_injection.py) add what "nothing lost" means
for their command; anything with a command line (a sweep, a push, an upload) fits. Commands that
must fail (a hung server, a hung tool) are timed to their error with `time_to_error`.

Importable with benchmarks/ on sys.path (as it is for every script in it); the servers and the
process check the tests use too come from `tests.faults` (the repository root is put on sys.path).
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def session_processes(sid: int) -> list[tuple[int, int, str]]:
    """(pid, RSS kB, command) of the live processes of session `sid` (zombies excluded)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # state, ppid, pgrp, session, ...
            if int(fields[3]) != sid or fields[0] == "Z":
                continue
            rss = int(fields[21]) * os.sysconf("SC_PAGE_SIZE") // 1024
            cmd = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:100]
        except (OSError, IndexError, ValueError):
            continue
        found.append((int(stat.parent.name), rss, cmd))
    return found


@dataclass
class Outcome:
    """One run: when the signal came, whether the command was still working then, what it left
    running (and for how long we waited for it to go), and the case's own findings."""

    delay_s: float
    mid_run: bool
    leftovers: list[tuple[int, int, str]]
    seconds_to_clean: float
    exit_code: Optional[int]
    losses: list[str] = field(default_factory=list)
    litter: list[str] = field(default_factory=list)  # harmless leftovers (a killed write's temp file)
    stored: list[str] = field(default_factory=list)  # garbage left in storage after the rerun (e.g. incomplete uploads)
    counts: dict[str, int] = field(default_factory=dict)  # what the case saw, summed over runs in the table


def signal_at_random(cmd: Sequence[str], signum: int, window_s: tuple[float, float], rng: random.Random,
                     ready: Callable[[], bool] = lambda: True, env: Optional[dict] = None,
                     settle_s: float = 20.0) -> Outcome:
    """Start `cmd` in a new session; once `ready()` (polled) holds, wait a random time in
    `window_s` and send `signum` to the command's own process (not its group: its helpers must
    notice on their own). Then wait up to `settle_s` for the whole session to end; whatever is
    still running is recorded and killed."""
    proc = subprocess.Popen(list(cmd), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                            start_new_session=True)
    while not ready() and proc.poll() is None:
        time.sleep(0.02)
    delay = rng.uniform(*window_s)
    time.sleep(delay)
    mid_run = proc.poll() is None
    if mid_run:
        os.kill(proc.pid, signum)
    code = proc.wait()
    left, seconds = settle(proc.pid, settle_s)
    return Outcome(delay, mid_run, left, seconds, code)


def settle(sid: int, settle_s: float) -> tuple[list[tuple[int, int, str]], float]:
    """Wait up to `settle_s` for session `sid` to end; (what still runs then, recorded and
    killed; the seconds waited)."""
    t0 = time.monotonic()
    while session_processes(sid) and time.monotonic() - t0 < settle_s:
        time.sleep(0.1)
    seconds = time.monotonic() - t0
    left = session_processes(sid)
    for pid, _, _ in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return left, seconds


def summary_table(case: str, outcomes: Sequence[Outcome]) -> str:
    """Counts of one case: runs, signals that landed mid-run, runs that left processes (and
    their memory), runs that lost something, the slowest clean-up."""
    left = [o for o in outcomes if o.leftovers]
    rss_mb = sum(kb for o in left for _, kb, _ in o.leftovers) / 1024
    lost = [o for o in outcomes if o.losses]
    worst = max((o.seconds_to_clean for o in outcomes), default=0.0)
    lines = [f"{case:16s} runs {len(outcomes):3d}  mid-run {sum(o.mid_run for o in outcomes):3d}  "
             f"left running {len(left):3d} ({rss_mb:.0f} MB)  lost {len(lost):3d}  slowest clean-up {worst:.1f} s  "
             f"temp files left {sum(len(o.litter) for o in outcomes)}  stored leftovers {sum(len(o.stored) for o in outcomes)}"]
    keys = sorted({k for o in outcomes for k in o.counts})
    if keys:
        lines.append("    " + ", ".join(f"{k} {sum(o.counts.get(k, 0) for o in outcomes)}" for k in keys))
    for o in [o for o in outcomes if o.stored][:3]:
        lines += [f"    stored after {o.delay_s:.2f} s: {item}" for item in o.stored[:4]]
    for o in left[:3]:
        lines += [f"    left after {o.delay_s:.2f} s: {pid} {cmd}" for pid, _, cmd in o.leftovers[:4]]
    for o in lost[:3]:
        lines += [f"    lost after {o.delay_s:.2f} s: {loss}" for loss in o.losses[:4]]
    return "\n".join(lines)


@dataclass
class ErrorOutcome:
    """A command that must fail: how long it took to say so, what it said (its stderr), and what
    of it was still running once it had exited."""

    label: str
    seconds: float
    exit_code: Optional[int]
    stderr: list[str]
    leftovers: list[tuple[int, int, str]]
    losses: list[str] = field(default_factory=list)  # the case's own findings (no clear error...)


def time_to_error(label: str, cmd: Sequence[str], env: Optional[dict] = None, settle_s: float = 10.0) -> ErrorOutcome:
    """Run `cmd` in a new session until it exits; seconds to that, its stderr lines, and what of
    its session still runs `settle_s` later (recorded and killed)."""
    t0 = time.monotonic()
    proc = subprocess.Popen(list(cmd), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    _, err = proc.communicate()
    seconds = time.monotonic() - t0
    left, _ = settle(proc.pid, settle_s)
    return ErrorOutcome(label, seconds, proc.returncode, err.strip().splitlines(), left)


def error_table(case: str, outcomes: Sequence[ErrorOutcome]) -> str:
    """One line per run of a must-fail case: exit status, seconds to the error, what was left
    running, the error's last line."""
    lines = []
    for o in outcomes:
        verdict = "; ".join(o.losses) if o.losses else "clear error"
        lines.append(f"{case:16s} {o.label}: exit {o.exit_code} after {o.seconds:.1f} s, left running {len(o.leftovers)}, "
                     f"{verdict}")
        lines.append(f"    {o.stderr[-1] if o.stderr else '(nothing on stderr)'}")
    return "\n".join(lines)
