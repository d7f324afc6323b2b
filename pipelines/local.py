"""Run fcbench pipelines with the kfp local runner (SubprocessRunner, current interpreter; its
tasks start from a warm task server unless FCBENCH_WARM_TASKS=false: pipelines/warm_tasks.py).

Artifacts land in <out>/artifacts/<pipeline>-<timestamp>/<task>/<output>; with caching on, KFP's
local task cache (<out>/artifacts/.kfp_cache) makes a rerun skip finished tasks. A failed task
becomes a PipelineFailed error naming the stage and what it was working on (codec, rate point,
sample), read from the error log the components append to (fcbench.components.stages.context).
"""
from __future__ import annotations

import contextlib
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, TextIO

from fcbench.codecs.common import settings
from fcbench.components.stages.context import read_error_log
from fcbench.pipelines.progress import Progress, expected_tasks
from fcbench.pipelines.warm_tasks import warm_tasks


class PipelineFailed(RuntimeError):
    """A local pipeline run failed; `.failures` holds the stage records (stage, context, error)."""

    def __init__(self, message: str, failures: list[dict]):
        super().__init__(message)
        self.failures = failures


@dataclass
class LocalRun:
    """Where a finished local run wrote its outputs."""

    pipeline: str
    run_dir: Path
    wall_s: float
    task_server: Optional[dict] = None  # warm task server figures (warm_tasks.WarmServer.figures); None: cold

    def outputs(self, task_prefix: str, output: str) -> list[Path]:
        """Paths of `output` of every task whose name starts with `task_prefix` (loop
        iterations and branch copies are numbered: evaluate, evaluate-2, ...)."""
        return sorted(p for p in self.run_dir.glob(f"**/{task_prefix}*/{output}") if p.exists())

    @property
    def report_dir(self) -> Path:
        found = [p for p in self.outputs("report", "report_dir") if (p / "report.md").is_file()]
        if len(found) != 1:
            raise FileNotFoundError(f"expected one finished report under {self.run_dir}, found {found}")
        return found[0]

    @property
    def table(self) -> str:
        return (self.report_dir / "report.md").read_text()


def _pipeline_name(pipeline: Callable) -> str:
    spec = getattr(pipeline, "pipeline_spec", None)
    name = spec.pipeline_info.name if spec is not None else getattr(pipeline, "name", pipeline.__name__)
    return str(name)


def _new_run_dir(root: Path, name: str, before: set[Path]) -> Path:
    runs = [p for p in root.glob(f"{name}-*") if p.is_dir() and p not in before]
    if len(runs) != 1:
        raise RuntimeError(f"cannot tell which folder under {root} holds this run of {name}: {runs}")
    return runs[0]


def describe_failures(name: str, failures: list[dict], cause: BaseException) -> str:
    if not failures:
        return f"pipeline {name} failed: {cause}"
    lines = [f"pipeline {name} failed in {len(failures)} stage run(s):"]
    for f in failures:
        ctx = ", ".join(f"{k}={v}" for k, v in f.get("context", {}).items() if v not in (None, ""))
        lines.append(f"  stage {f['stage']} ({ctx}): {f['error']}")
    return "\n".join(lines)


def run_local(pipeline: Callable, arguments: dict[str, Any], out_dir: Path, *, cache: bool = True,
              log_path: Optional[Path] = None, progress: Optional[TextIO] = None,
              loop_sizes: Optional[dict[str, int]] = None) -> LocalRun:
    """Run `pipeline(**arguments)` with the kfp local SubprocessRunner(use_venv=False).

    The pipeline root is <out_dir>/artifacts; with `cache` a rerun reuses finished tasks. The
    runner logs every task's inputs, outputs and output streams to stdout; `log_path` sends that
    log to a file instead. With a `progress` stream, a line per finished stage goes there (tasks
    done of the total that `loop_sizes` allows counting, elapsed and CPU time: pipelines/progress.py).
    """
    from kfp import local

    from fcbench.components.tracking.server import stage_tracking_uri
    from fcbench.pipelines.deployment import local_variant

    t0 = time.perf_counter()
    pipeline = local_variant(pipeline)  # no retries (the runner would sleep through the backoff)
    root = Path(out_dir).resolve() / "artifacts"
    root.mkdir(parents=True, exist_ok=True)
    name = _pipeline_name(pipeline)
    before = set(root.glob(f"{name}-*"))
    error_log = Path(out_dir).resolve() / f".errors-{os.getpid()}-{time.time_ns()}.jsonl"
    progress_log = error_log.with_name(error_log.name.replace(".errors-", ".progress-"))
    # These reach the component subprocesses through the environment and are put back afterwards.
    task_env = {settings.ERROR_LOG: str(error_log), **task_variables()}
    shown: Any = contextlib.nullcontext()
    if progress is not None:
        task_env[settings.PROGRESS_LOG] = str(progress_log)
        shown = Progress(progress_log, progress, expected_tasks(pipeline, loop_sizes or {}))
    # The task server imports while the tracking store and the runner get ready.
    tracking_uri = str(arguments.get("tracking_uri") or "")
    tracked = stage_tracking_uri(tracking_uri) is not None
    with warm_tasks(settings.WARM_TASKS.get(), {s.name: v for s, v in task_env.items()},
                    ("mlflow",) if tracked else ()) as server:
        prepare_tracking_store(tracking_uri)
        local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root), raise_on_error=True,
                   enable_caching=cache)
        try:
            with settings.environment(task_env), shown, _log_to(log_path), _restore_print_and_logging(), \
                    _loop_inputs_kept():
                pipeline(**arguments)
        except Exception as exc:
            failures = read_error_log(error_log)
            where = f"\n(task logs: {log_path})" if log_path else ""
            raise PipelineFailed(describe_failures(name, failures, exc) + where, failures) from exc
        finally:
            error_log.unlink(missing_ok=True)
            progress_log.unlink(missing_ok=True)
    return LocalRun(name, _new_run_dir(root, name, before), time.perf_counter() - t0,
                    server.figures() if server else None)


# The kfp local runner runs at most two tasks at once (two loop iterations).
RUNNER_TASKS_AT_ONCE = 2


def task_threads() -> int:
    """Torch threads of each task of a local run: the thread policy's share of two jobs at once
    (fcbench.codecs.common.cpus.threads_per_job; 1 on 2 cores)."""
    from fcbench.codecs.common.cpus import threads_per_job

    return threads_per_job(RUNNER_TASKS_AT_ONCE)


def task_variables() -> dict[settings.Setting, str]:
    """What the runner's tasks get where the shell does not set it: one sweep worker and their
    share of the threads. The runner already runs two loop iterations at once, and two trainings
    side by side with two torch threads each livelocked on 2 cores (a 0.4-second training still
    in its first step after 10 minutes, in 3 of 3 runs inside the test suite; one thread: 0 of 2)."""
    return {settings.SWEEP_JOBS: settings.SWEEP_JOBS.raw() or "1",
            settings.OMP_THREADS: settings.OMP_THREADS.raw() or str(task_threads())}


def prepare_tracking_store(uri: str) -> None:
    """Create a local sqlite MLflow store before the run: tasks running side by side (two
    trainings) would otherwise both create its schema and collide ("duplicate column")."""
    if not uri.startswith("sqlite:"):
        return
    import logging

    from mlflow.tracking import MlflowClient

    quiet = [logging.getLogger(name) for name in ("mlflow.store.db.utils", "alembic")]
    levels = [log.level for log in quiet]
    for log in quiet:  # "Creating initial MLflow database tables..." is not news for the terminal
        log.setLevel(logging.WARNING)
    try:
        MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
    finally:
        for log, level in zip(quiet, levels):
            log.setLevel(level)


@contextlib.contextmanager
def _loop_inputs_kept() -> Iterator[None]:
    """Work around the kfp local runner (2.17) giving every iteration of a dsl.ParallelFor the
    loop item in place of *each* task output the loop consumes: a second one (the MLflow parent
    run id of open_tracking, passed into the trainings) must keep its own value. Only the
    output that holds the items becomes the item; the runner resolves the others as for any task."""
    from kfp.local.orchestrator import task_spec_utils

    original = task_spec_utils.create_parameter_loop_iteration_task_spec

    def keeping(task_spec: Any, loop_item: Any, loop_task_name: str) -> Any:
        items = (task_spec.parameter_iterator.items.input_parameter
                 if task_spec.WhichOneof("iterator") == "parameter_iterator" else None)
        kept = {name: spec for name, spec in task_spec.inputs.parameters.items()
                if spec.HasField("task_output_parameter") and name != items}
        iteration = original(task_spec, loop_item, loop_task_name)
        for name, spec in kept.items():
            iteration.inputs.parameters[name].CopyFrom(spec)
        return iteration

    task_spec_utils.create_parameter_loop_iteration_task_spec = keeping
    try:
        yield
    finally:
        task_spec_utils.create_parameter_loop_iteration_task_spec = original


@contextlib.contextmanager
def _restore_print_and_logging() -> Iterator[None]:
    """Put builtins.print and the root logger back as they were. The kfp local runner swaps
    both per task (indented print, a stdout log handler) and, with two loop iterations running
    in threads, can restore the other thread's swap: print would stay indented and a handler on
    a closed stream would stay on the root logger for the rest of the process."""
    import builtins
    import logging

    root = logging.getLogger()
    saved_print, saved_handlers, saved_level = builtins.print, root.handlers[:], root.level
    try:
        yield
    finally:
        builtins.print = saved_print
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


@contextlib.contextmanager
def _log_to(path: Optional[Path]) -> Iterator[None]:
    """Send the runner's log (a stdout handler it creates per run) to `path`; drop the
    runner's warnings about settings that only matter on a cluster."""
    with warnings.catch_warnings():
        # Expected locally: cluster settings (GPU, secrets) are ignored and the images are not used.
        warnings.filterwarnings("ignore", message=".*have no effect in the current local runner.*")
        warnings.filterwarnings("ignore", message=".*non-Python base image.*")
        if path is None:
            yield
            return
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as f, contextlib.redirect_stdout(f):
            yield
