"""How many CPUs this process may really use: affinity, capped by the cgroup CPU quota."""
from __future__ import annotations

import contextlib
import math
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

CGROUP_ROOT = Path("/sys/fs/cgroup")


def cgroup_cpu_limit(root: Path = CGROUP_ROOT) -> Optional[float]:
    """The CPU limit in cores from cgroup v2 (`cpu.max`: "QUOTA PERIOD" or "max PERIOD") or v1
    (`cpu.cfs_quota_us` / `cpu.cfs_period_us`); None when unlimited or unknown."""
    v2 = root / "cpu.max"
    try:
        if v2.is_file():
            parts = v2.read_text().split()
            quota, period = parts[0], (parts[1] if len(parts) > 1 else "100000")
            return None if quota == "max" else int(quota) / int(period)
        quota_file, period_file = root / "cpu" / "cpu.cfs_quota_us", root / "cpu" / "cpu.cfs_period_us"
        if quota_file.is_file() and period_file.is_file():
            quota_us = int(quota_file.read_text())
            return None if quota_us <= 0 else quota_us / int(period_file.read_text())
    except (OSError, ValueError):
        return None
    return None


def available_cpus(root: Path = CGROUP_ROOT) -> int:
    """Affinity CPUs, capped by the cgroup limit rounded up (at least 1)."""
    visible = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    limit = cgroup_cpu_limit(root)
    return max(1, min(visible, math.ceil(limit))) if limit else max(1, visible)


def thread_budget() -> int:
    """The threads this process may keep busy: OMP_NUM_THREADS when set (the local runner gives
    its tasks 1, pipelines their CPU limit), else the CPUs it may use."""
    from fcbench.codecs.common import settings

    given = settings.OMP_THREADS.get()
    return max(1, int(given)) if given else available_cpus()


def threads_per_job(jobs: int) -> int:
    """The one thread policy: each of `jobs` concurrent jobs gets budget // jobs torch/OpenMP
    threads (at least 1), so jobs x threads never exceeds the budget. Speed columns then mean the
    same from the CLI, the local runner and a cluster: oversubscribed threads spin against each
    other (a hyperprior sweep of 2 jobs x 2 threads on 2 cores ran 27x slower than 2 x 1)."""
    return max(1, thread_budget() // max(1, int(jobs)))


@dataclass(frozen=True)
class ThreadShare:
    """How a run shares its thread budget: `jobs` at once, `threads_per_job` torch threads each."""

    jobs: int
    threads_per_job: int
    budget: int

    @classmethod
    def of(cls, jobs: int) -> "ThreadShare":
        return cls(max(1, int(jobs)), threads_per_job(jobs), thread_budget())

    def as_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        return (f"{self.jobs} job{'s' if self.jobs > 1 else ''} at once x {self.threads_per_job} "
                f"thread{'s' if self.threads_per_job > 1 else ''} each (thread budget {self.budget}: "
                f"OMP_NUM_THREADS, else the CPUs)")


def blas_threads(n: int) -> Any:
    """Limit the BLAS pools this process has loaded (numpy's OpenBLAS) to n threads: for good, or
    until the returned object's restore_original_limits() / the end of a `with` block. They read
    OMP_NUM_THREADS once, when loaded, and otherwise keep a thread per CPU spinning beside every
    job (a klt encode took 3x the CPU time with 2 idle-spinning threads on 2 cores)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=int(n), user_api="blas")


def use_threads(n: int) -> None:
    """Apply a thread count to this process for good (a sweep worker): torch's intra-op pool if
    torch is loaded, the loaded BLAS pools, and OMP_NUM_THREADS for what starts later (torch
    imported later, children)."""
    from fcbench.codecs.common import settings

    settings.export({settings.OMP_THREADS: str(int(n))})
    _torch_threads(n)
    blas_threads(n)


def _torch_threads(n: int) -> None:
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(int(n))


@contextlib.contextmanager
def threads(n: int) -> Iterator[None]:
    """What use_threads(n) sets, while the block runs (jobs run in the calling process), then as
    before: the environment and the BLAS limits are restored by their contexts, torch here."""
    from fcbench.codecs.common import settings

    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    try:
        with settings.environment({settings.OMP_THREADS: str(int(n))}), blas_threads(n):
            _torch_threads(n)
            yield
    finally:
        torch = sys.modules.get("torch")
        if torch is not None:  # as before, or torch's own default when the block imported it
            torch.set_num_threads(before if before is not None else thread_budget())
