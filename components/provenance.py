"""Version and provenance of this fcbench build (fcbench.pipelines.version re-exports it).

Lives in components so tracking can tag runs without importing the pipelines layer.
"""
from __future__ import annotations

import socket
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Optional

from fcbench.codecs.common import settings


def version() -> str:
    try:
        return metadata.version("fcbench")
    except metadata.PackageNotFoundError:
        return "0+unknown"


@lru_cache(maxsize=1)
def git_sha() -> Optional[str]:
    """Commit of the source tree, when run from a git checkout (FCBENCH_GIT_SHA overrides)."""
    if settings.GIT_SHA.get():
        return settings.GIT_SHA.get()
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def image_digest() -> Optional[str]:
    """Digest of the container image this runs in, as the deployment passes it (FCBENCH_IMAGE_DIGEST)."""
    return settings.IMAGE_DIGEST.get()


def host() -> str:
    return socket.gethostname()
