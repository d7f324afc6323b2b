"""How many CPUs this process may really use: affinity, capped by the cgroup CPU quota."""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Optional

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
            quota = int(quota_file.read_text())
            return None if quota <= 0 else quota / int(period_file.read_text())
    except (OSError, ValueError):
        return None
    return None


def available_cpus(root: Path = CGROUP_ROOT) -> int:
    """Affinity CPUs, capped by the cgroup limit rounded up (at least 1)."""
    visible = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    limit = cgroup_cpu_limit(root)
    return max(1, min(visible, math.ceil(limit))) if limit else max(1, visible)
