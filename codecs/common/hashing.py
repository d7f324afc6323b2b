"""sha256 of files, read in chunks (checkpoints and feature files can be gigabytes)."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Union

CHUNK = 1 << 22


def sha256_file(path: Union[str, Path]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
