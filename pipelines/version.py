"""Version and provenance of this fcbench build (defined in fcbench.components.provenance so
the components layer can use it without importing pipelines)."""
from __future__ import annotations

from fcbench.components.provenance import git_sha, host, image_digest, version

__all__ = ["version", "git_sha", "host", "image_digest"]
