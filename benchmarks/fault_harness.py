"""Fault-injection harness: run a command in its own session, signal it at a random moment, then
count what it left running. Cases (benchmarks/fault_injection.py) add what "nothing lost" means
for their command; anything with a command line (a sweep, a push, an upload) fits.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence


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
    t0 = time.monotonic()
    while session_processes(proc.pid) and time.monotonic() - t0 < settle_s:
        time.sleep(0.1)
    seconds = time.monotonic() - t0
    left = session_processes(proc.pid)
    for pid, _, _ in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return Outcome(delay, mid_run, left, seconds, code)


def summary_table(case: str, outcomes: Sequence[Outcome]) -> str:
    """Counts of one case: runs, signals that landed mid-run, runs that left processes (and
    their memory), runs that lost something, the slowest clean-up."""
    left = [o for o in outcomes if o.leftovers]
    rss_mb = sum(kb for o in left for _, kb, _ in o.leftovers) / 1024
    lost = [o for o in outcomes if o.losses]
    worst = max((o.seconds_to_clean for o in outcomes), default=0.0)
    lines = [f"{case:16s} runs {len(outcomes):3d}  mid-run {sum(o.mid_run for o in outcomes):3d}  "
             f"left running {len(left):3d} ({rss_mb:.0f} MB)  lost {len(lost):3d}  slowest clean-up {worst:.1f} s  "
             f"temp files left {sum(len(o.litter) for o in outcomes)}"]
    for o in left[:3]:
        lines += [f"    left after {o.delay_s:.2f} s: {pid} {cmd}" for pid, _, cmd in o.leftovers[:4]]
    for o in lost[:3]:
        lines += [f"    lost after {o.delay_s:.2f} s: {loss}" for loss in o.losses[:4]]
    return "\n".join(lines)
