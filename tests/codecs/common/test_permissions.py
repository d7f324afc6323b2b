"""Files fcbench writes respect the umask, as any tool's do: 0644 under umask 022, group-writable
under 002 (shared clusters, NFS), private under 077 (issue #12 item 16)."""
from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from fcbench.codecs import FeatureSet
from fcbench.codecs.common import atomic


@pytest.fixture
def umask():
    saved = os.umask(0o022)
    try:
        yield os.umask
    finally:
        os.umask(saved)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask,expected", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_writes_follow_the_umask(umask, tmp_path, mask, expected):
    umask(mask)
    assert atomic.current_umask() == mask
    atomic.write_bytes(tmp_path / "a.bin", b"x")
    atomic.write_json(tmp_path / "a.json", {"x": 1})
    fs = FeatureSet.create(tmp_path / "set", "m", "t", "s")
    fs.write("s0", np.zeros((1, 1, 2, 2), np.float32))
    for path in (tmp_path / "a.bin", tmp_path / "a.json", tmp_path / "set" / "s0.npy", tmp_path / "set" / "manifest.json"):
        assert mode(path) == expected, f"{path}: {oct(mode(path))}"
    assert mode(tmp_path / "set") == 0o777 & ~mask


def test_storage_and_sweep_outputs_follow_the_umask(umask, tmp_path):
    from fcbench.codecs.sweeps.run import run_sweep
    from fcbench.components.storage import open_storage

    umask(0o002)
    fs = FeatureSet.create(tmp_path / "set", "m", "t", "s")
    fs.write("s0", np.linspace(-1, 1, 64, dtype=np.float32).reshape(1, 1, 4, 16))
    open_storage(str(tmp_path / "store")).push_dir(fs.root, "copy")
    run_sweep(fs.root, "bypass", {}, [0], {"low": -1, "high": 1}, tmp_path / "out", jobs=1, progress=False)
    written = [p for root in ("store", "out") for p in (tmp_path / root).rglob("*") if p.is_file()]
    assert len(written) > 6 and {oct(mode(p)) for p in written} == {oct(0o664)}
