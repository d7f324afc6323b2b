"""Parallel, cached, resumable codec sweeps: a feature set x one codec x rate points.

Each (sample, rate point) is one job run in a worker process that builds the codec from its
registry name and options (codecs need not be picklable). A job encodes, decodes, measures
(the rate of fcbench.codecs.rate: the paper's BPFP, side and container bits apart, EBPFP;
feature MSE, PSNR in the quantized domain, encode/decode seconds), writes
its bitstream atomically and stores container + metrics in the content-addressed cache. The
main process alone writes the reconstructed feature sets and the results table, so a sweep
killed at any moment restarts with every finished job taken from the cache. Nothing here is
codec-specific: rate points, options and conditions are passed through to the codec.

Output layout under out_dir:
    bitstreams/<codec>/<rate_tag>/<sample>.bin   containers (what the rate is counted from)
    recon/<codec>/<rate_tag>/                    reconstructed feature set
    (rate_tag = the codec's rate unit and the rate point: qp22, crf35, lambda0.0017)
    results.csv, results.json                    per-sample rows + per-rate-point summary
    cache/                                       finished jobs (unless cache_dir is given)
"""
from __future__ import annotations

import csv
import io
import math
import multiprocessing
import os
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence, Union

import numpy as np

from fcbench.codecs import atomic
from fcbench.codecs.cache import JobCache, jsonable, cache_key, canonical_json
from fcbench.codecs.featureset import FeatureSet
from fcbench.codecs.protocol import Codec, Conditions
from fcbench.codecs.types import RatePoint, rate_tag
from fcbench.codecs.rate import RATE_FIELDS, container_rate
from fcbench.codecs.registry import get_codec

ROW_FIELDS = ("sample", "codec", "preset", "rate_point", *RATE_FIELDS, "mse", "psnr_q", "enc_s", "dec_s", "cache_hit")
# Means over samples: bpfp is the paper's; side and container bits are shown apart.
MEAN_FIELDS = ("bpfp", "side_bpfp", "container_bpfp", "ebpfp", "mse", "psnr_q", "enc_s", "dec_s")
SUMMARY_FIELDS = ("codec", "preset", "rate_point", "rate_unit", "samples", *MEAN_FIELDS)


class SweepError(RuntimeError):
    """Some jobs failed; every other job's results were written. `.result` holds them."""

    def __init__(self, message: str, result: "SweepResult") -> None:
        super().__init__(message)
        self.result = result


@dataclass
class SweepResult:
    out_dir: Path
    codec: str
    rows: list[dict]
    summary: list[dict]
    failures: list[dict]
    cache_hits: int
    jobs_run: int
    wall_s: float
    job_seconds: float  # sum of the encode+decode seconds of the jobs run now
    preset: Optional[str] = None  # the preset the conditions came from

    def table(self) -> str:
        """The summary as an aligned text table."""
        cols = SUMMARY_FIELDS
        cells = [[_fmt(r[c]) for c in cols] for r in self.summary]
        widths = [max(len(c), *(len(row[i]) for row in cells)) if cells else len(c) for i, c in enumerate(cols)]
        lines = ["  ".join(c.rjust(w) for c, w in zip(cols, widths))]
        lines += ["  ".join(v.rjust(w) for v, w in zip(row, widths)) for row in cells]
        return "\n".join(lines)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return "" if v is None else str(v)


# ---- the job (runs in a worker process) ------------------------------------------------------
@dataclass(frozen=True)
class _Job:
    sample: str
    rate_point: RatePoint
    key: str
    features_root: str
    codec: str
    codec_options: dict
    conditions: dict
    origin_dtype: str
    bitstream: str
    cache_root: str
    cached: Optional[dict] = None  # metrics of a cached container: decode it, do not encode


_CODECS: dict[str, Codec] = {}


def _codec(name: str, options: dict) -> Codec:
    """One codec object per (name, options) per process (learned codecs load weights once)."""
    tag = canonical_json([name, options])
    if tag not in _CODECS:
        _CODECS[tag] = get_codec(name, **options)
    return _CODECS[tag]


def job_metrics(codec: Codec, feature: np.ndarray, data: bytes, rate_point: RatePoint,
                conditions: dict, origin_dtype: str) -> tuple[dict, np.ndarray, float]:
    """Decode `data` and measure it against `feature` -> (metrics, reconstruction, decode s)."""
    t0 = time.perf_counter()
    header, decoded = codec.decode_to_frame(data)
    recon = codec.from_frame(header, decoded)
    dec_s = time.perf_counter() - t0
    rate = container_rate(data, origin_dtype, codec)
    ref = feature.astype(np.float32)
    mse = float(np.mean((ref - recon.astype(np.float32)) ** 2))
    psnr_q = None
    if header.transform != "normalize":  # integer frames: PSNR of the samples, peak 2^b - 1
        _, frame = codec.to_frame(feature, rate_point, Conditions(**conditions))
        mse_q = float(np.mean((frame.astype(np.float64) - decoded.astype(np.float64)) ** 2))
        peak = float(2**header.bit_depth - 1)
        psnr_q = math.inf if mse_q == 0 else 10.0 * math.log10(peak * peak / mse_q)
    metrics = {**rate.row(), "mse": mse, "psnr_q": psnr_q}
    return metrics, recon, dec_s


def _run_job(job: _Job) -> tuple[dict, np.ndarray]:
    codec = _codec(job.codec, job.codec_options)
    feature = FeatureSet.open(job.features_root).read(job.sample)
    cache = JobCache(job.cache_root)
    if job.cached is None:
        t0 = time.perf_counter()
        data = codec.encode(feature, job.rate_point, **job.conditions)
        enc_s = time.perf_counter() - t0
    else:
        entry = cache.get(job.key)
        if entry is None:
            raise RuntimeError(f"cache entry {job.key} vanished during the sweep")
        data, enc_s = entry.container, float(job.cached["enc_s"])
    metrics, recon, dec_s = job_metrics(codec, feature, data, job.rate_point, job.conditions, job.origin_dtype)
    metrics.update(enc_s=enc_s, dec_s=dec_s)
    atomic.write_bytes(job.bitstream, data)
    if job.cached is None:
        cache.put(job.key, data, metrics)
    return metrics, recon


def _run_job_safe(job: _Job) -> tuple[Optional[dict], Optional[np.ndarray], Optional[str]]:
    """Never raise across the process boundary (codec exceptions need not be picklable)."""
    try:
        metrics, recon = _run_job(job)
        return metrics, recon, None
    except Exception as exc:  # reported with the job's sample and rate point
        tb = traceback.extract_tb(exc.__traceback__)[-1]
        return None, None, f"{type(exc).__name__}: {exc} (at {Path(tb.filename).name}:{tb.lineno})"


# ---- the sweep (main process) -----------------------------------------------------------------
def _dedupe(rate_points: Iterable[RatePoint]) -> list[RatePoint]:
    out: list[RatePoint] = []
    for rp in rate_points:
        if rp not in out:
            out.append(rp)
    if not out:
        raise ValueError("a sweep needs at least one rate point")
    tags = [rate_tag(rp) for rp in out]
    if len(set(tags)) != len(tags):
        raise ValueError(f"rate points {out} map to the same folder names {tags}")
    return out


def _mean(values: Sequence[Optional[float]]) -> Optional[float]:
    if not values or any(v is None for v in values):
        return None
    return float(np.mean(values))


def summarize(rows: list[dict], rate_points: Sequence[RatePoint], rate_unit: str = "qp") -> list[dict]:
    """Per (codec, rate point): its unit, sample count and means of the per-sample values."""
    out = []
    for rp in rate_points:
        sel = [r for r in rows if r["rate_point"] == rp]
        if not sel:
            continue
        entry = {"codec": sel[0]["codec"], "preset": sel[0].get("preset"), "rate_point": rp, "rate_unit": rate_unit,
                 "samples": len(sel)}
        for k in MEAN_FIELDS:
            entry[k] = _mean([r[k] for r in sel])
        out.append(entry)
    return out


def _write_tables(out_dir: Path, result: SweepResult, identity: dict, conditions: dict) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=ROW_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in result.rows:
        writer.writerow({k: row[k] for k in ROW_FIELDS})
    atomic.write_bytes(out_dir / "results.csv", buf.getvalue().encode())
    atomic.write_json(out_dir / "results.json", jsonable({
        "codec": result.codec, "preset": result.preset,
        "rate_unit": result.summary[0]["rate_unit"] if result.summary else None,
        "identity": identity, "conditions": conditions, "rows": result.rows,
        "summary": result.summary, "failures": result.failures, "cache_hits": result.cache_hits,
        "jobs_run": result.jobs_run, "wall_s": result.wall_s}))


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


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
) -> SweepResult:
    """Code every sample at every rate point; see the module docstring for what is written.
    `preset` names the preset the conditions came from (fcbench.codecs.presets); it is recorded
    in every row, the summary and results.json (None: conditions given directly).

    Raises SweepError (after writing all other results) when any job failed, naming each
    failed sample and rate point.
    """
    t_start = time.perf_counter()
    fs = features if isinstance(features, FeatureSet) else FeatureSet.open(features)
    if len(fs) == 0:
        raise ValueError(f"feature set {fs.root} has no samples")
    options = dict(codec_options or {})
    conds = dict(conditions or {})
    checked = Conditions(**conds)  # bad conditions fail here, once, before any job or file
    for sample in fs.ids:  # and so do shapes they cannot code (range count, layout)
        try:
            checked.check_shape(fs.info(sample).shape)
        except ValueError as exc:
            raise ValueError(f"sample {sample!r} of {fs.root}: {exc}") from None
    rps = _dedupe(rate_points)
    master = _codec(codec, options)
    for rp in rps:
        master.check_rate_point(rp)
    identity = master.identity
    unit = master.rate_unit
    out = Path(out_dir)
    cache = JobCache(cache_dir if cache_dir is not None else out / "cache")
    n_jobs = jobs if jobs is not None else default_jobs()
    if n_jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {n_jobs}")

    recon_sets = {rp: FeatureSet.create(out / "recon" / codec / rate_tag(rp, unit), fs.meta.get("model", ""),
                                        fs.meta.get("task", ""), fs.meta.get("split_point", ""),
                                        codec=codec, rate_point=rp, rate_unit=unit, conditions=jsonable(conds),
                                        codec_identity=identity, source=str(fs.root))
                  for rp in rps}
    rows: dict[tuple[str, RatePoint], dict] = {}
    pending: list[_Job] = []
    for rp in rps:
        for sample in fs.ids:
            info = fs.info(sample)
            key = cache_key(info.sha256, conds, identity, rp)
            bitstream = out / "bitstreams" / codec / rate_tag(rp, unit) / f"{sample}.bin"
            entry = cache.get(key)
            recon = recon_sets[rp]
            done = (entry is not None and sample in recon and recon.info(sample).extra.get("cache_key") == key)
            if done:
                if not bitstream.is_file() or bitstream.read_bytes() != entry.container:
                    atomic.write_bytes(bitstream, entry.container)
                # The rate is recounted from the cached container: entries written under an
                # older rate rule report today's.
                rate = container_rate(entry.container, info.origin_dtype, master)
                measured = {k: entry.metrics[k] for k in ("mse", "psnr_q", "enc_s", "dec_s")}
                rows[(sample, rp)] = dict(rate.row(), **measured, cache_hit=True)
                continue
            pending.append(_Job(sample, rp, key, str(fs.root), codec, options, conds, info.origin_dtype,
                                str(bitstream), str(cache.root), entry.metrics if entry else None))

    failures: list[dict] = []
    job_seconds = 0.0
    total = len(rps) * len(fs)
    bar = _progress(total, len(rows), codec, progress)

    def finish(job: _Job, metrics: Optional[dict], recon: Optional[np.ndarray], error: Optional[str]) -> None:
        nonlocal job_seconds
        bar.update(1)
        if error is not None:
            failures.append({"sample": job.sample, "rate_point": job.rate_point, "error": error})
            return
        assert metrics is not None and recon is not None
        recon_sets[job.rate_point].write(job.sample, recon, origin_dtype=job.origin_dtype, cache_key=job.key)
        rows[(job.sample, job.rate_point)] = dict(metrics, cache_hit=job.cached is not None)
        job_seconds += (0.0 if job.cached else metrics["enc_s"]) + metrics["dec_s"]

    try:
        if n_jobs == 1 or len(pending) <= 1:
            for job in pending:
                finish(job, *_run_job_safe(job))
        elif pending:
            _run_parallel(pending, min(n_jobs, len(pending)), finish, [type(master).__module__])
    finally:
        bar.close()

    ordered = [dict(sample=s, codec=codec, preset=preset, rate_point=rp, **rows[(s, rp)])
               for rp in rps for s in fs.ids if (s, rp) in rows]
    for row in ordered:  # column order of ROW_FIELDS
        row.update({k: row.pop(k) for k in ROW_FIELDS if k in row})
    result = SweepResult(out, codec, ordered, summarize(ordered, rps, unit), failures,
                         cache_hits=sum(1 for r in ordered if r["cache_hit"]), jobs_run=len(pending),
                         wall_s=time.perf_counter() - t_start, job_seconds=job_seconds, preset=preset)
    out.mkdir(parents=True, exist_ok=True)
    _write_tables(out, result, identity, conds)
    if failures:
        lines = [f"  sample {f['sample']!r} at rate point {f['rate_point']}: {f['error']}" for f in failures]
        raise SweepError(f"{len(failures)} of {total} {codec} jobs failed (the other results are written to {out}):\n"
                         + "\n".join(lines), result)
    return result


def _context(preload: list[str]) -> multiprocessing.context.BaseContext:
    """forkserver: workers fork from a clean server process (no codec or torch threads
    inherited from the caller) that has already imported the sweep and the codec's module,
    so they start fast (the server lives as long as this process)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["fcbench.codecs.sweep", *preload])
    return ctx


def _run_parallel(pending: list[_Job], workers: int, finish, preload: list[str]) -> None:
    ctx = _context(preload)
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
    try:
        futures = {pool.submit(_run_job_safe, job): job for job in pending}
        for future in as_completed(futures):
            job = futures[future]
            try:
                finish(job, *future.result())
            except BrokenProcessPool as exc:
                finish(job, None, None, f"worker process died ({exc}); out of memory or killed?")
    finally:  # on Ctrl-C or an error, drop queued jobs instead of running them all first
        pool.shutdown(wait=True, cancel_futures=True)


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
