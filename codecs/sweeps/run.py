"""Parallel, cached, resumable codec sweeps: a feature set x one codec x rate points.

Each (sample, rate point) is one job (fcbench.codecs.sweeps.job) run in a worker process that
builds the codec from its registry name and options (codecs need not be picklable). A job
encodes, decodes once, measures (the rate of fcbench.codecs.chain.rate: the paper's BPFP, side and
container bits apart, EBPFP; feature MSE and PSNR, PSNR of the quantized samples; encode/decode
CPU seconds), writes its bitstream atomically and stores container + metrics in the
content-addressed cache. The main process alone writes the reconstructed feature sets (each
sample records its job's row) and the results table, which is the union of every job recorded in
the folder (fcbench.codecs.sweeps.results). A sweep killed at any moment restarts with every
finished job; on resume each reconstruction is checked against its recorded sha256 and redone
(from the cache) when damaged. SIGTERM or Ctrl-C stops the workers at once, keeps every
finished job, writes the table and raises SweepInterrupted. Nothing here is codec-specific.

Output layout under out_dir:
    bitstreams/<name>/<rate_tag>/<sample>.bin    containers (what the rate is counted from)
    recon/<name>/<rate_tag>/                     reconstructed feature set
    (rate_tag = the codec's rate unit and the rate point: qp22, crf35, lambda0.0017; name = the
    codec and its chain, e.g. x265+side, so sweeps of two chains into one folder add up)
    results.csv, results.json                    per-sample rows + per-rate-point summary
    cache/                                       finished jobs (unless cache_dir is given)
"""
from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence, Union

import numpy as np

from fcbench.codecs.chain import folder as chain_folder
from fcbench.codecs.chain import named as chain_named
from fcbench.codecs.common import atomic, cpus
from fcbench.codecs.common.cpus import ThreadShare
from fcbench.codecs.common.types import RatePoint, rate_tag
from fcbench.codecs.features.featureset import FeatureSet
from fcbench.codecs.measured_rate import container_rate
from fcbench.codecs.protocol import Codec, Conditions
from fcbench.codecs.sweeps.cache import JobCache, cache_key, jsonable
from fcbench.codecs.sweeps.job import Job, cached_seconds, codec_for, run_job_safe, worker_init
from fcbench.codecs.sweeps.results import MEAN_FIELDS, ROW_FIELDS, SUMMARY_FIELDS, make_row, recorded_row, summarize, write_tables

__all__ = ["MEAN_FIELDS", "ROW_FIELDS", "SUMMARY_FIELDS", "SweepError", "SweepInterrupted", "SweepResult",
           "default_jobs", "run_sweep", "summarize"]


@dataclass
class SweepResult:
    """What one sweep did: its rows and summary (the rate points it was asked for; the folder's
    results files hold every sweep's), failures, cache hits, jobs run, times."""

    out_dir: Path
    label: str  # the codec and its chain (fcbench.codecs.chain.label)
    rows: list[dict]
    summary: list[dict]
    failures: list[dict]
    cache_hits: int
    jobs_run: int
    wall_s: float
    job_seconds: float  # sum of the encode+decode CPU seconds of the jobs run now
    preset: Optional[str] = None  # the preset the conditions came from
    threads: Optional[ThreadShare] = None  # how the jobs shared the thread budget (timings depend on it)

    def table(self) -> str:
        """The summary as an aligned text table."""
        cols = tuple(c for c in SUMMARY_FIELDS if c != "codec")  # the label names the codec
        cells = [[_fmt(r[c]) for c in cols] for r in self.summary]
        widths = [max(len(c), *(len(row[i]) for row in cells)) if cells else len(c) for i, c in enumerate(cols)]
        lines = ["  ".join(c.rjust(w) for c, w in zip(cols, widths))]
        lines += ["  ".join(v.rjust(w) for v, w in zip(row, widths)) for row in cells]
        return "\n".join(lines)


class SweepError(RuntimeError):
    """Some jobs failed; every other job's results were written. `.result` holds them."""

    def __init__(self, message: str, result: SweepResult) -> None:
        super().__init__(message)
        self.result = result


class SweepInterrupted(KeyboardInterrupt):
    """SIGTERM or Ctrl-C stopped the sweep; finished jobs are kept and the table is written.
    `.result` holds them, `.signal` the signal's name. (A KeyboardInterrupt: no `except
    Exception` swallows it.)"""

    def __init__(self, message: str, result: SweepResult, signal_name: str) -> None:
        super().__init__(message)
        self.result = result
        self.signal = signal_name


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return "" if v is None else str(v)


def _dedupe(rate_points: Iterable[RatePoint], unit: str) -> list[RatePoint]:
    out: list[RatePoint] = []
    for rate_point in rate_points:
        if rate_point not in out:
            out.append(rate_point)
    if not out:
        raise ValueError("a sweep needs at least one rate point")
    tags = [rate_tag(rate_point, unit) for rate_point in out]
    if len(set(tags)) != len(tags):
        raise ValueError(f"rate points {out} map to the same folder names {tags}")
    return out


def default_jobs() -> int:
    """The CPUs this process may use: its affinity, capped by a cgroup CPU limit (a pod's limit
    is a quota, not fewer visible cores: without the cap a pod limited to 4 cores on a 64-core
    node would start 64 workers and be throttled)."""
    from fcbench.codecs.common.cpus import available_cpus

    return available_cpus()


def run_sweep(
    features: Union[FeatureSet, str, Path],
    codec: str,
    codec_options: Optional[dict],
    rate_points: Sequence[RatePoint],
    conditions: Optional[dict],
    out_dir: Union[str, Path],
    jobs: Optional[int] = None,
    progress: bool = True,
    cache_dir: Union[str, Path, None] = None,
    preset: Optional[str] = None,
    label: Optional[str] = None,
) -> SweepResult:
    """Code every sample at every rate point; see the module docstring for what is written.
    `preset` names the preset the conditions came from (fcbench.codecs.presets); it is recorded
    in every row, the summary and results.json (None: conditions given directly). `label` names
    the codec and its chain (fcbench.codecs.chain.label, e.g. x265+side; default the codec): the
    rows' codec column and the folders under bitstreams/ and recon/.

    Raises SweepError (after writing all other results) when any job failed, naming each
    failed sample and rate point; SweepInterrupted on SIGTERM / Ctrl-C (finished jobs kept).
    """
    t_start = time.perf_counter()
    fs, conds = _checked_inputs(features, conditions)
    options = dict(codec_options or {})
    master = codec_for(codec, options)
    if master.frame_kind == "tensor":  # it codes the feature itself: record that nothing is truncated
        conds["truncate"] = False
    name = chain_named(codec, label)
    folder = chain_folder(name)
    unit = master.rate_unit
    points = _dedupe(rate_points, unit)
    for rate_point in points:
        master.check_rate_point(rate_point)
    identity = master.identity
    out = Path(out_dir)
    cache = JobCache(cache_dir if cache_dir is not None else out / "cache")
    n_jobs = jobs if jobs is not None else default_jobs()
    if n_jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {n_jobs}")

    rows: dict[tuple[str, RatePoint], dict] = {}
    share = ThreadShare.of(1)  # jobs x threads within the thread budget (fcbench.codecs.common.cpus)
    recon_sets: dict[RatePoint, FeatureSet] = {}
    pending: list[Job] = []
    failures: list[dict] = []
    job_seconds = 0.0
    total = len(points) * len(fs)
    bar: Any = _NoBar()

    def finish(job: Job, metrics: Optional[dict], recon: Optional[np.ndarray], error: Optional[str]) -> None:
        nonlocal job_seconds
        bar.update(1)
        if error is not None:
            failures.append({"sample": job.sample, "rate_point": job.rate_point, "error": error})
            return
        assert metrics is not None and recon is not None
        recorded = recorded_row(metrics, preset)
        source_extra = {k: v for k, v in fs.info(job.sample).extra.items() if k not in ("cache_key", "row")}
        recon_sets[job.rate_point].write(job.sample, recon, origin_dtype=job.origin_dtype, **source_extra,
                                         cache_key=job.key, row=jsonable(recorded))
        rows[(job.sample, job.rate_point)] = make_row(job.sample, name, codec, job.rate_point, unit, recorded,
                                                      cache_hit=job.cached is not None)
        spent = [metrics["dec_s"]] + ([] if job.cached else [metrics["enc_s"]])
        job_seconds += sum(v for v in spent if v is not None)

    stop = _Stop()
    with stop.on_signals():
        try:
            for rate_point in points:
                recon_sets[rate_point] = FeatureSet.create(
                    out / "recon" / folder / rate_tag(rate_point, unit), fs.meta.get("model", ""), fs.meta.get("task", ""),
                    fs.meta.get("split_point", ""), codec=codec, label=name, rate_point=rate_point, rate_unit=unit,
                    conditions=jsonable(conds), codec_identity=identity, source=str(fs.root),
                    **({"extracted_by": fs.meta["extracted_by"]} if "extracted_by" in fs.meta else {}))
            pending = _plan(fs, recon_sets, cache, codec, name, folder, master, conds, options, out, preset, rows)
            bar = _progress(total, len(rows), name, progress)
            share = ThreadShare.of(1 if n_jobs == 1 or len(pending) <= 1 else min(n_jobs, len(pending)))
            if share.jobs == 1:
                with cpus.threads(share.threads_per_job):
                    for job in pending:
                        finish(job, *run_job_safe(job))
            elif pending:
                _run_parallel(pending, share.jobs, share.threads_per_job, finish, [type(master).__module__])
        except (_Stopped, KeyboardInterrupt):
            stop.name = stop.name or "SIGINT"
        finally:
            stop.armed = False  # from here on a signal is noted, and the table still written
            bar.close()
            for recon_set in recon_sets.values():
                recon_set.compact()
        ordered = [rows[(s, rate_point)] for rate_point in points for s in fs.ids if (s, rate_point) in rows]
        result = SweepResult(out, name, ordered, summarize(ordered), failures,
                             cache_hits=sum(1 for r in ordered if r["cache_hit"]), jobs_run=len(pending),
                             wall_s=time.perf_counter() - t_start, job_seconds=job_seconds, preset=preset,
                             threads=share)
        write_tables(out, ordered, {
            "model": fs.meta.get("model"), "task": fs.meta.get("task"), "features": str(fs.root), "label": name, "codec": codec,
            "preset": preset, "rate_unit": unit, "identity": identity, "conditions": conds, "failures": failures,
            "cache_hits": result.cache_hits, "jobs_run": result.jobs_run, "wall_s": result.wall_s,
            "threads": share.as_dict()})
    _raise_if_incomplete(stop.name, failures, result, name, total, out)
    return result


def _checked_inputs(features: Union[FeatureSet, str, Path], conditions: Optional[dict]) -> tuple[FeatureSet, dict]:
    """The feature set and a copy of the conditions, refused here, once, before any job or file:
    an empty set, bad conditions, a sample shape they cannot code (range count, layout)."""
    fs = features if isinstance(features, FeatureSet) else FeatureSet.open(features)
    if len(fs) == 0:
        raise ValueError(f"feature set {fs.root} has no samples")
    conds = dict(conditions or {})
    checked = Conditions(**conds)
    for sample in fs.ids:
        try:
            checked.check_shape(fs.info(sample).shape)
        except ValueError as exc:
            raise ValueError(f"sample {sample!r} of {fs.root}: {exc}") from None
    return fs, conds


def _raise_if_incomplete(stopped_by: Optional[str], failures: list[dict], result: SweepResult, name: str, total: int,
                         out: Path) -> None:
    """SweepInterrupted when a signal stopped the sweep, SweepError when jobs failed (after every
    other result is written)."""
    if stopped_by:
        raise SweepInterrupted(f"{name} sweep stopped by {stopped_by}: {len(result.rows)} of {total} jobs are done and "
                               f"kept in {out} (rerun to finish)", result, stopped_by)
    if failures:
        lines = [f"  sample {f['sample']!r} at rate point {f['rate_point']}: {f['error']}" for f in failures]
        raise SweepError(f"{len(failures)} of {total} {name} jobs failed (the other results are written to {out}):\n"
                         + "\n".join(lines), result)


def _plan(fs: FeatureSet, recon_sets: dict, cache: JobCache, codec: str, name: str, folder: str, master: Codec,
          conds: dict, options: dict, out: Path, preset: Optional[str], rows: dict) -> list[Job]:
    """The jobs to run; the rows of jobs already done (cached, with an intact reconstruction:
    the file is read and hashed) go into `rows`, their bitstreams restored where missing."""
    unit, identity = master.rate_unit, master.identity
    pending = []
    for rate_point, recon in recon_sets.items():
        for sample in fs.ids:
            info = fs.info(sample)
            key = cache_key(info.sha256, conds, identity, rate_point)
            bitstream = out / "bitstreams" / folder / rate_tag(rate_point, unit) / f"{sample}.bin"
            entry = cache.get(key)
            if entry is None or not (sample in recon and recon.info(sample).extra.get("cache_key") == key
                                     and recon.intact(sample)):
                pending.append(Job(sample, rate_point, key, str(fs.root), codec, options, conds, info.origin_dtype,
                                   str(bitstream), str(cache.root), entry.metrics if entry else None))
                continue
            if not bitstream.is_file() or bitstream.read_bytes() != entry.container:
                atomic.write_bytes(bitstream, entry.container)
            # The rate is recounted from the cached container: entries written under an older
            # rate rule report today's.
            rate = container_rate(entry.container, info.origin_dtype, master)
            measured = {**entry.metrics, "enc_s": cached_seconds(entry.metrics, "enc_s"),
                        "dec_s": cached_seconds(entry.metrics, "dec_s")}
            rows[(sample, rate_point)] = make_row(sample, name, codec, rate_point, unit, recorded_row({**measured, **rate.row()}, preset),
                                          cache_hit=True)
    return pending


class _Stopped(BaseException):
    """Raised in the main thread by SIGTERM while jobs run."""


class _Stop:
    """SIGTERM stops the sweep (like Ctrl-C) while it plans and runs jobs; later it is only
    noted, so the table is still written. The signal's name is kept for the message."""

    def __init__(self) -> None:
        self.name: Optional[str] = None
        self.armed = True

    @contextlib.contextmanager
    def on_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield  # signal handlers can only be set from the main thread
            return

        def handler(signum: int, frame: Any) -> None:
            self.name = signal.Signals(signum).name
            if self.armed:
                raise _Stopped()

        old = signal.signal(signal.SIGTERM, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGTERM, old)


def _context(preload: list[str]) -> multiprocessing.context.BaseContext:
    """forkserver: workers fork from a clean server process (no codec or torch threads
    inherited from the caller) that has already imported the job module and the codec's module,
    so they start fast (the server lives as long as this process and its workers)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["fcbench.codecs.sweeps.job", *preload])
    return ctx


def _run_parallel(pending: list[Job], workers: int, threads: int, finish: Callable, preload: list[str]) -> None:
    ctx = _context(preload)
    started = ctx.SimpleQueue()  # each worker's pid, put there as it starts: the processes a stop signals
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=worker_init,
                               initargs=(os.getpid(), threads, started))
    todo = iter(pending)
    running: dict[Future, Job] = {}

    def submit_next() -> None:
        job = next(todo, None)
        if job is None:
            return
        try:
            running[pool.submit(run_job_safe, job)] = job
        except BrokenProcessPool as exc:
            finish(job, None, None, _died(exc))

    try:
        # A window of jobs in flight, refilled as each finishes: finished reconstructions wait for
        # this process a few at a time (backpressure), so it never holds a growing part of the set.
        for _ in range(workers + 1):
            submit_next()
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                job = running.pop(future)
                try:
                    outcome = future.result()
                except BrokenProcessPool as exc:
                    outcome = (None, None, _died(exc))
                finish(job, *outcome)
                del outcome
                submit_next()
            del done, future
    except BaseException:  # stopped (SIGTERM, Ctrl-C) or failed: running jobs end now, not when done
        _stop_workers(_started_pids(started))
        raise
    finally:  # drop queued jobs instead of running them all first
        pool.shutdown(wait=True, cancel_futures=True)


def _died(exc: BaseException) -> str:
    return f"worker process died ({exc}); out of memory or killed?"


def _started_pids(started: Any) -> list[int]:
    pids = []
    while not started.empty():
        pids.append(int(started.get()))
    return pids


def _stop_workers(pids: list[int], grace_s: float = 2.0) -> None:
    """SIGTERM (a worker abandons its job cleanly: job.worker_init), then SIGKILL for any
    still there after `grace_s`."""
    alive = [pid for pid in pids if _signal(pid, signal.SIGTERM)]
    deadline = time.monotonic() + grace_s
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [pid for pid in alive if _signal(pid, 0)]
    for pid in alive:
        _signal(pid, signal.SIGKILL)


def _signal(pid: int, signum: int) -> bool:
    """Send `signum` (0: only ask) to `pid`; False when the process is gone."""
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        return False
    return True


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, initial: int, codec: str, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=f"{codec} sweep", unit="job")
