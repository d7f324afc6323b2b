"""Where a pipeline task's time goes, measured from inside the task process.

stage_context writes every stage's start and end to FCBENCH_PROGRESS_LOG (the progress a local
run shows); `process_facts` adds what the process had spent by then: CPU seconds, and on the
start its own start time (Linux: /proc), on the end the heavy packages it had loaded. `stage_runs`
pairs the events back into one record per stage run: process start, work start and end, CPU
before the work (the task's start-up: interpreter, kfp executor, imports) and during it.
benchmarks/pipeline_overhead.py builds its per-task table from them.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Optional

from fcbench.codecs.common import settings
from fcbench.codecs.common.types import PathLike

# Packages whose import costs a task a second or more (torch_geometric: through compressai).
HEAVY = ("torch", "compressai", "torch_geometric", "transformers", "mlflow", "matplotlib", "scipy", "pandas",
         "av", "boto3", "minio", "PIL")


def process_started() -> Optional[float]:
    """Epoch seconds at which this process started (Linux /proc: its start and the uptime, both
    since boot in clock ticks, so to ~10 ms), None where unknown."""
    try:
        stat = Path(f"/proc/{os.getpid()}/stat").read_text()
        ticks = int(stat.rsplit(")", 1)[1].split()[19])  # field 22: start time in clock ticks after boot
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return time.time() - (uptime - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None


def cpu_seconds() -> float:
    """User + system CPU seconds of this process so far (its children excluded)."""
    t = os.times()
    return t.user + t.system


def loaded_heavy() -> list[str]:
    return [name for name in HEAVY if name in sys.modules]


def process_facts(start: bool) -> dict[str, Any]:
    """The fields a stage event carries for timing (see the module docstring)."""
    facts: dict[str, Any] = {"cpu": cpu_seconds(), "in_task": bool(settings.KFP_RUNTIME.get())}
    if start:
        facts["process_start"] = process_started()
    else:
        facts["heavy"] = loaded_heavy()
    return facts


def stage_runs(path: PathLike) -> list[dict[str, Any]]:
    """One record per stage run of a progress log, in start order: stage, context, ok, pid,
    in_task, process_start, work_start, work_end, startup_cpu, work_cpu, heavy. A stage without
    its end (a killed task) is left out."""
    p = Path(path)
    events = [json.loads(line) for line in p.read_text().splitlines() if line.strip()] if p.is_file() else []
    open_: dict[int, dict] = {}
    runs = []
    for e in events:
        if e["event"] == "start":
            open_[e["pid"]] = e
            continue
        begin = open_.pop(e["pid"], None)
        if begin is None or begin["stage"] != e["stage"]:
            continue
        runs.append({"stage": e["stage"], "context": e["context"], "ok": e["event"] == "done", "pid": e["pid"],
                     "in_task": begin.get("in_task", False), "process_start": begin.get("process_start"),
                     "work_start": begin["t"], "work_end": e["t"], "startup_cpu": begin.get("cpu"),
                     "work_cpu": e["cpu"] - begin["cpu"] if "cpu" in e and "cpu" in begin else None,
                     "heavy": e.get("heavy", [])})
    return sorted(runs, key=lambda r: r["work_start"])
