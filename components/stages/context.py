"""Stage failures that say where they happened: StageError, stage_context and the error log.

A failing stage raises a StageError naming the stage and what it was working on (codec, rate
point, sample); the local runner reads the same records back from FCBENCH_ERROR_LOG. Starts and
ends of stages go to FCBENCH_PROGRESS_LOG with what the process spent so far
(components/stages/timing.py reads them); in a KFP task process a finished stage also readies
the process for a quick exit.
"""
from __future__ import annotations

import gc
import json
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from fcbench.codecs.common import settings
from fcbench.codecs.common.types import PathLike
from fcbench.components.stages import timing


class StageError(RuntimeError):
    """A pipeline stage failed; the message names the stage and what it was working on."""

    def __init__(self, stage: str, context: dict, cause: BaseException):
        self.stage = stage
        self.context = context
        self.cause = f"{type(cause).__name__}: {cause}"
        where = ", ".join(f"{k}={v}" for k, v in context.items() if v not in (None, ""))
        super().__init__(f"stage {stage} failed ({where}): {self.cause}")


@contextmanager
def stage_context(stage: str, **context: Any) -> Iterator[dict]:
    """Turn any failure inside into a StageError naming the stage and its context.

    The yielded dict may be updated (e.g. with the sample being processed) so the error names
    what was current when it failed. Failures are also appended to FCBENCH_ERROR_LOG, which the
    local runner reads to say which stage, sample and rate point broke the pipeline; starts and
    ends go to FCBENCH_PROGRESS_LOG, which a local run follows to show progress.
    """
    ctx = dict(context)
    _progress("start", stage, ctx)
    try:
        yield ctx
    except StageError:
        _progress("failed", stage, ctx)
        raise
    except Exception as exc:
        err = StageError(stage, ctx, exc)
        _record(err)
        _progress("failed", stage, ctx)
        raise err from exc
    _progress("done", stage, ctx)
    _ready_to_exit()


def _ready_to_exit() -> None:
    """In a KFP task process the stage is the process's last work: freeze the heap, so that the
    interpreter's final garbage collection does not walk every object the imports created (torch,
    compressai, ...: ~0.4 s of CPU per task that imported torch, benchmarks/task_imports.py).
    Only in a task (_KFP_RUNTIME): a long-lived process must keep collecting."""
    if settings.KFP_RUNTIME.get():
        gc.freeze()


def _progress(event: str, stage: str, context: dict) -> None:
    """A stage's start or end, for the terminal of a local run and for timing (FCBENCH_PROGRESS_LOG):
    when, and the CPU seconds this process had used by then."""
    path = settings.PROGRESS_LOG.get()
    if path is None:
        return
    line = json.dumps({"event": event, "stage": stage, "context": context, "pid": os.getpid(), "t": time.time(),
                       **timing.process_facts(start=event == "start")}, default=str)
    with open(path, "a") as f:  # one short line, one write
        f.write(line + "\n")


def _record(err: StageError) -> None:
    path = settings.ERROR_LOG.get()
    if path is None:
        return
    line = json.dumps({"stage": err.stage, "context": err.context, "error": err.cause}, default=str)
    with open(path, "a") as f:  # one short line per failure: append is atomic enough here
        f.write(line + "\n")


def read_error_log(path: PathLike) -> list[dict]:
    """Failures recorded by stage_context, oldest first."""
    p = Path(path)
    if not p.is_file():
        return []
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]
