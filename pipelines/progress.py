"""Progress of a local pipeline run on the terminal: stage, tasks done of the total, elapsed.

Every stage records its start and end in the JSON-lines file FCBENCH_PROGRESS_LOG
(fcbench.components.stages.context); `Progress` follows that file from a thread of the process
that runs the pipeline and writes one line per finished stage, and a line listing what is still
running when nothing finished for a while. The total comes from the compiled pipeline: its
tasks, each loop's body counted once per item (`expected_tasks`, with the loop sizes the caller
knows); tasks the runner takes from its cache never start, so the last line says how many ran.
"""
from __future__ import annotations

import json
import os
import resource
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional, TextIO

HEARTBEAT_S = 30.0


def expected_tasks(pipeline: Callable, loop_sizes: dict[str, int]) -> Optional[int]:
    """How many tasks a run of `pipeline` executes: every component task of its DAG, a loop's
    body once per item (`loop_sizes` by the loop's name, as given to dsl.ParallelFor). None when
    a loop's size is not given or the pipeline branches (dsl.If: only one branch runs)."""
    from google.protobuf.json_format import MessageToDict

    spec = MessageToDict(pipeline.pipeline_spec)  # type: ignore[attr-defined]  # a compiled kfp pipeline
    components = spec["components"]

    def count(dag: dict) -> Optional[int]:
        total = 0
        for task in dag.get("tasks", {}).values():
            if "triggerPolicy" in task:
                return None
            inner = components[task["componentRef"]["name"]].get("dag")
            n = count(inner) if inner is not None else 1
            if n is None:
                return None
            if "parameterIterator" in task or "artifactIterator" in task:
                size = loop_sizes.get(task.get("taskInfo", {}).get("name", ""))
                if size is None:
                    return None
                n *= size
            total += n
        return total

    return count(spec["root"]["dag"])


def cpu_seconds() -> float:
    """CPU seconds of this process and of its child processes: finished ones (the runner's tasks)
    and, where /proc shows them, those still running with whatever they have finished."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime + _running_descendants_cpu()


def _running_descendants_cpu() -> float:
    """utime + stime (+ their reaped children's) of the live descendants of this process."""
    stats: dict[int, tuple[int, float]] = {}  # pid -> (ppid, CPU seconds)
    tick = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # state, ppid, ..., utime at 11
            stats[int(stat.parent.name)] = (int(fields[1]), sum(int(f) for f in fields[11:15]) / tick)
        except (OSError, IndexError, ValueError):
            continue
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0.0, list(children.get(os.getpid(), []))
    while todo:
        pid = todo.pop()
        total += stats[pid][1]
        todo += children.get(pid, [])
    return total


def describe(record: dict) -> str:
    """'code_traditional (x265, rate point 27)' from a progress record."""
    ctx = record.get("context") or {}
    parts = [str(ctx[k]) for k in ("codec", "family") if ctx.get(k) not in (None, "")]
    if ctx.get("rate_point") not in (None, ""):
        parts.append(f"rate point {ctx['rate_point']}")
    return record["stage"] + (f" ({', '.join(parts)})" if parts else "")


class Progress:
    """Follows a progress log and writes to `stream` (a `with` block around the run)."""

    def __init__(self, log: Path, stream: TextIO, total: Optional[int] = None, poll_s: float = 0.5):
        self.log, self.stream, self.total, self.poll_s = Path(log), stream, total, poll_s
        self.done = self.failed = 0
        self.running: dict[str, tuple[str, float]] = {}  # record key -> (description, start time)
        self._offset = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="fcbench-progress", daemon=True)
        self._t0 = time.monotonic()
        self._last = self._t0

    def __enter__(self) -> "Progress":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self._read()  # the last records
        cached = self.total - self.done - self.failed if self.total else 0
        self._say(f"finished: {self._count()} tasks done" + (f", {self.failed} failed" if self.failed else "")
                  + (f", {cached} not run (taken from the cache, or skipped)" if cached > 0 else ""))

    def _count(self) -> str:
        return f"{self.done}/{self.total}" if self.total else str(self.done)

    def _say(self, text: str) -> None:
        elapsed = time.monotonic() - self._t0
        # write(), not print(): the kfp runner swaps builtins.print and stdout while tasks run
        self.stream.write(f"[{int(elapsed) // 60:2d}:{int(elapsed) % 60:02d} CPU {cpu_seconds():5.0f} s] {text}\n")
        self.stream.flush()
        self._last = time.monotonic()

    def _follow(self) -> None:
        while not self._stop.wait(self.poll_s):
            self._read()
            if self.running and time.monotonic() - self._last > HEARTBEAT_S:
                now = time.time()
                busy = ", ".join(f"{d} {now - t:.0f} s" for d, t in self.running.values())
                self._say(f"{self._count()} tasks done; running: {busy}")

    def _read(self) -> None:
        try:
            with open(self.log, "rb") as f:
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return
        complete = data[: data.rfind(b"\n") + 1]  # a line still being written waits for the next read
        self._offset += len(complete)
        for line in complete.decode(errors="replace").splitlines():
            try:
                self._record(json.loads(line))
            except (json.JSONDecodeError, KeyError, TypeError):
                continue

    def _record(self, record: dict) -> None:
        key = f"{record['pid']}:{record['stage']}"
        what = describe(record)
        if record["event"] == "start":
            self.running[key] = (what, float(record["t"]))
            return
        what, started = self.running.pop(key, (what, float(record["t"])))  # as it was when it started
        took = f" in {float(record['t']) - started:.0f} s"
        if record["event"] == "done":
            self.done += 1
            self._say(f"{self._count()} tasks done: {what}{took}")
        else:
            self.failed += 1
            self._say(f"FAILED: {what}{took}")
