"""Where a generative machine's model comes from and what it runs on: the local checkpoint folder
(and its digest), the device and the dtype."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Union

import torch

from fcbench.codecs.common.types import PathLike
from fcbench.machines.weights import resolve, sha256_file

_DTYPES = {"bfloat16": torch.bfloat16, "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16,
           "float32": torch.float32, "fp32": torch.float32}


def local_checkpoint(weights: Union[PathLike, None], what: str) -> Path:
    """The local checkpoint folder: a path, or an object-storage URI staged by the stager the
    components layer registers (machines.weights.resolve)."""
    if weights is None:
        raise ValueError(f"weights= is required: a local {what} checkpoint folder")
    path = resolve(weights, f"{what} checkpoint")
    if not path.is_dir():
        raise FileNotFoundError(f"{what} checkpoint {path} is not a folder (save_pretrained layout expected)")
    return path


def resolve_device(device: Union[str, torch.device]) -> torch.device:
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {device} requested but CUDA is not available")
    return device


def resolve_dtype(dtype: Union[str, torch.dtype]) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in _DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; use one of {sorted(_DTYPES)}")
    return _DTYPES[dtype]


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def checkpoint_digest(root: PathLike) -> str:
    """sha256 over (relative name, file sha256) of every file of a checkpoint folder, so a
    feature set names exactly the weights that made it (file hashes are cached per mtime)."""
    root = Path(root)
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")):
        digest.update(f"{path.relative_to(root)}\0{sha256_file(path)}\n".encode())
    return digest.hexdigest()
