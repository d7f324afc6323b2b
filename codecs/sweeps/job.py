"""One job of a sweep (a sample at a rate point), as a worker process runs it.

A job encodes (or takes the container from the cache), decodes once, counts the rate from the
container it already parsed, and measures the reconstruction: the feature MSE and PSNR of
fcbench.codecs.chain.fidelity, and for integer frames the PSNR of the decoded samples against the
frame that was coded (psnr_q). Encode and decode times are CPU seconds (this process and the
tool processes it waited for, e.g. VTM), so they compare codecs on a loaded machine too. It
writes its bitstream and the cache entry atomically; the sweep's process writes everything else.

Workers started by the sweep watch the sweep's process: when it dies (even by SIGKILL) they exit,
so nothing is left blocked on a queue nobody feeds; the encoder a worker was running goes with
it (its tool watchdog, backends/_watchdog.py).
"""
from __future__ import annotations

import math
import os
import resource
import select
import signal
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from fcbench.codecs.chain import fidelity
from fcbench.codecs.chain.container import unpack_container
from fcbench.codecs.common import atomic
from fcbench.codecs.common.types import RatePoint
from fcbench.codecs.features.featureset import FeatureSet
from fcbench.codecs.measured_rate import parsed_rate
from fcbench.codecs.protocol import Codec
from fcbench.codecs.registry import get_codec
from fcbench.codecs.sweeps.cache import JobCache, canonical_json

# What says a cached entry's times are CPU seconds (older entries hold wall seconds: not comparable).
TIMING = "cpu_s"


@dataclass(frozen=True)
class Job:
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


def cpu_seconds() -> float:
    """User + system CPU seconds of this process (all threads, nanosecond clock) and of the child
    processes it has waited for (an encoder binary)."""
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + kids.ru_utime + kids.ru_stime


def cached_seconds(metrics: dict, name: str) -> Optional[float]:
    """A time recorded in a cache entry, or None when it is missing or not CPU seconds."""
    value = metrics.get(name)
    return float(value) if value is not None and metrics.get("timing") == TIMING else None


_CODECS: dict[str, Codec] = {}
_SETS: dict[str, FeatureSet] = {}


def codec_for(name: str, options: dict) -> Codec:
    """One codec object per (name, options) per process (learned codecs load weights once)."""
    tag = canonical_json([name, options])
    if tag not in _CODECS:
        _CODECS[tag] = get_codec(name, **options)
    return _CODECS[tag]


def _features(root: str) -> FeatureSet:
    """The input set, its manifest parsed once per process (every read still checks the sample)."""
    if root not in _SETS:
        _SETS[root] = FeatureSet.open(root)
    return _SETS[root]


def frame_psnr(coded: np.ndarray, decoded: np.ndarray, bit_depth: int) -> float:
    """PSNR of decoded integer samples against the coded frame, peak 2^b - 1 (inf if equal)."""
    mse_q = fidelity.mean_squared_difference(coded, decoded)
    peak = float(2**bit_depth - 1)
    return math.inf if mse_q == 0 else 10.0 * math.log10(peak * peak / mse_q)


def measure(codec: Codec, feature: np.ndarray, data: bytes, origin_dtype: str,
            coded_frame: Optional[np.ndarray]) -> tuple[dict, np.ndarray]:
    """Decode `data` (parsed once) and measure it -> (metrics without enc_s, reconstruction).
    psnr_q needs the coded frame (None: the caller fills it in)."""
    c0 = cpu_seconds()
    header, payload = unpack_container(data)
    decoded = codec.decode_payload(header, payload)
    recon = codec.from_frame(header, decoded)
    dec_s = cpu_seconds() - c0
    bad = recon.size - int(np.count_nonzero(np.isfinite(recon)))
    if bad:  # a failed job, recorded as such; the rest of the sweep goes on
        raise ValueError(f"{codec.name} decoded a reconstruction with {bad} NaN or infinite values of {recon.size}")
    rate = parsed_rate(header, payload, len(data), origin_dtype, codec)
    mse = fidelity.sample_mse(feature, recon)
    psnr_q = None
    if coded_frame is not None and header.transform not in ("normalize", "none"):  # integer frames only
        psnr_q = frame_psnr(coded_frame, decoded, header.bit_depth)
    metrics = {**rate.row(), "mse": mse, "psnr_f": fidelity.sample_psnr(feature, mse), "psnr_q": psnr_q,
               "dec_s": dec_s, "timing": TIMING}
    return metrics, recon


def run_job(job: Job) -> tuple[dict, np.ndarray]:
    codec = codec_for(job.codec, job.codec_options)
    feature = _features(job.features_root).read(job.sample)
    cache = JobCache(job.cache_root)
    if job.cached is None:
        c0 = cpu_seconds()
        data, frame = codec.encode_keeping_frame(feature, job.rate_point, **job.conditions)
        enc_s: Optional[float] = cpu_seconds() - c0
        metrics, recon = measure(codec, feature, data, job.origin_dtype, frame)
    else:
        entry = cache.get(job.key)
        if entry is None:
            raise RuntimeError(f"cache entry {job.key} vanished during the sweep")
        data, enc_s = entry.container, cached_seconds(job.cached, "enc_s")
        metrics, recon = measure(codec, feature, data, job.origin_dtype, None)
        metrics["psnr_q"] = job.cached.get("psnr_q")
    metrics["enc_s"] = enc_s
    atomic.write_bytes(job.bitstream, data)
    if job.cached is None:
        cache.put(job.key, data, metrics)
    return metrics, recon


def run_job_safe(job: Job) -> tuple[Optional[dict], Optional[np.ndarray], Optional[str]]:
    """Never raise across the process boundary (codec exceptions need not be picklable)."""
    try:
        metrics, recon = run_job(job)
        return metrics, recon, None
    except Exception as exc:  # reported with the job's sample and rate point
        tb = traceback.extract_tb(exc.__traceback__)[-1]
        return None, None, f"{type(exc).__name__}: {exc} (at {Path(tb.filename).name}:{tb.lineno})"


# ---- worker processes ------------------------------------------------------------------------
def worker_init(sweep_pid: int, threads: int, started: Any = None) -> None:
    """Initializer of the sweep's workers: Ctrl-C is the sweep's to handle (it stops the
    workers with SIGTERM, which ends the job at hand like an exception: its atomic writes remove
    their temp files and an encoder binary it runs is killed), a worker whose sweep died
    exits instead of waiting forever for work, and each worker runs `threads` torch threads (the
    sweep's share of the thread budget: the forkserver's environment is the one it started with).
    Its pid goes into the queue `started`: the processes a stopped sweep signals."""
    from fcbench.codecs.common.cpus import use_threads

    if started is not None:
        started.put(os.getpid())
    use_threads(threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_now)
    threading.Thread(target=_exit_when_gone, args=(sweep_pid,), name="fcbench-sweep-watch", daemon=True).start()


def _exit_now(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _exit_when_gone(pid: int) -> None:
    try:
        fd = os.pidfd_open(pid)  # Linux >= 5.3: readable when the process has exited
    except ProcessLookupError:
        _exit_orphaned()
    except (AttributeError, OSError):  # no pidfd here: poll
        while True:
            time.sleep(1.0)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                _exit_orphaned()
            except PermissionError:
                pass
    else:
        select.select([fd], [], [])
        _exit_orphaned()


def _exit_orphaned() -> None:
    """Exit at once. An encoder binary mid-run goes too: its process group is killed by this
    worker's tool watchdog when the worker's end of their pipe closes (backends/_watchdog.py)."""
    os._exit(1)
