"""Checkpoint file resolution shared by all machines.

Machines are pure: they read local files only. The pipeline stages and the CLI stage an
object-storage URI (``s3://bucket/key``) to a local copy before a machine runs
(fcbench.components.inputs.local_path), so machines get paths. Code that calls a machine
directly with a URI can register a *stager* for its scheme with `register_stager`; without one,
such a URI is a clear error instead of a silent miss.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Callable, Iterable, Optional
from urllib.parse import urlparse

from fcbench.codecs.common import hashing
from fcbench.codecs.common.types import PathLike

Stager = Callable[[str], Path]

_STAGERS: dict[str, Stager] = {}
_SHA_CACHE: dict[tuple[str, int, int], str] = {}


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit the model it is loaded into."""


def register_stager(scheme: str, stager: Stager) -> None:
    """Let URIs with `scheme` (e.g. "s3") be staged to a local path by `stager(uri) -> Path`."""
    _STAGERS[scheme.lower()] = stager


def resolve(location: PathLike, what: str = "weights") -> Path:
    """A local path for `location`: a path, a ``file://`` URI or a staged object-storage URI."""
    text = str(location)
    scheme = urlparse(text).scheme.lower()
    if len(scheme) > 1 and scheme != "file":  # one letter = a Windows drive, not a scheme
        if scheme not in _STAGERS:
            raise FileNotFoundError(
                f"{what}: {text} is an object-storage URI but no stager for {scheme!r} is registered; "
                "stage it to a local folder first (fcbench.components does this before a machine runs)"
            )
        path = Path(_STAGERS[scheme](text))
    else:
        path = Path(urlparse(text).path if scheme == "file" else text).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{what}: {path} does not exist")
    return path


def find_file(root: Path, names: Iterable[str], what: str) -> Path:
    """The first of `names` under directory `root` (or `root` itself when it is a file)."""
    names = list(names)
    if root.is_file():
        return root
    for name in names:
        if (root / name).is_file():
            return root / name
    raise FileNotFoundError(f"{what}: none of {names} found in {root}")


def sha256_file(path: PathLike) -> str:
    """sha256 of a file, cached per (path, size, mtime): checkpoints are gigabytes."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        _SHA_CACHE[key] = hashing.sha256_file(path)
    return _SHA_CACHE[key]


def load_state_dict(path: PathLike, unwrap: tuple[str, ...] = ("state_dict", "model")) -> dict[str, Any]:
    """Tensors of a ``.pth``/``.pt``/``.bin`` (torch, weights only) or ``.safetensors`` file.

    Training checkpoints that nest the weights (mmcv's ``{"meta", "state_dict"}``) are unwrapped.
    """
    import torch

    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            sd: Any = load_file(str(path))
        else:
            try:  # memory-map: ViT-g is 4.5 GB, don't hold two copies while loading
                sd = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError as exc:
                if "mmap" not in str(exc) and "zip" not in str(exc):
                    raise
                sd = torch.load(io.BytesIO(path.read_bytes()), map_location="cpu", weights_only=True)  # legacy format
    except Exception as exc:  # torch/safetensors raise many types for a corrupt file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise CheckpointError(f"cannot read checkpoint {path}: {type(exc).__name__}: {first}") from exc
    for key in unwrap:
        if isinstance(sd, dict) and isinstance(sd.get(key), dict):
            sd = sd[key]
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise CheckpointError(f"checkpoint {path} does not hold a state dict of tensors")
    return dict(sd)


def check_keys(sd: dict[str, Any], expected: dict[str, tuple[int, ...]], what: str, optional: Optional[set[str]] = None) -> None:
    """Strict key matching: every expected key with its shape, nothing unexpected."""
    optional = optional or set()
    missing = sorted(k for k in expected if k not in sd and k not in optional)
    unexpected = sorted(k for k in sd if k not in expected)
    wrong = sorted(
        f"{k}: checkpoint {tuple(sd[k].shape)} != model {expected[k]}"
        for k in expected
        if k in sd and tuple(sd[k].shape) != tuple(expected[k])
    )
    problems = []
    if missing:
        problems.append(f"missing keys {missing[:8]}{' ...' if len(missing) > 8 else ''}")
    if unexpected:
        problems.append(f"unexpected keys {unexpected[:8]}{' ...' if len(unexpected) > 8 else ''}")
    if wrong:
        problems.append(f"wrong shapes {wrong[:8]}")
    if problems:
        raise CheckpointError(f"{what}: " + "; ".join(problems))
