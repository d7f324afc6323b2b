"""The content-addressed job cache: what the key depends on, atomic complete entries."""
from __future__ import annotations

import numpy as np
import pytest

from fcbench.codecs.sweeps.cache import JobCache, cache_key

IDENT = {"name": "x265", "version": "4.2", "binary_sha256": "ab" * 32, "cfg_sha256": None, "options": {"preset": "slow"}}
COND = {"low": -5.0, "high": 5.0, "layout": "llama3", "bit_depth": 10}
BASE = ("f" * 64, COND, IDENT, 22)


@pytest.mark.parametrize("change", [
    lambda f, c, i, r: ("e" * 64, c, i, r),
    lambda f, c, i, r: (f, dict(c, high=6.0), i, r),
    lambda f, c, i, r: (f, dict(c, quant="legacy"), i, r),
    lambda f, c, i, r: (f, c, dict(i, version="4.3"), r),
    lambda f, c, i, r: (f, c, dict(i, binary_sha256="cd" * 32), r),
    lambda f, c, i, r: (f, c, dict(i, cfg_sha256="ef" * 32), r),
    lambda f, c, i, r: (f, c, dict(i, options={"preset": "fast"}), r),
    lambda f, c, i, r: (f, c, i, 27),
])
def test_every_ingredient_changes_the_key(change):
    assert cache_key(*change(*BASE)) != cache_key(*BASE)


def test_key_is_canonical():
    reordered = dict(reversed(list(COND.items())))
    assert cache_key("f" * 64, reordered, IDENT, 22) == cache_key(*BASE)
    assert cache_key("f" * 64, dict(COND, low=np.float64(-5.0)), IDENT, np.int64(22)) == cache_key(*BASE)
    assert cache_key("f" * 64, COND, IDENT, 22) != cache_key("f" * 64, COND, IDENT, 22.5)
    with pytest.raises(TypeError):
        cache_key("f" * 64, dict(COND, points=object()), IDENT, 22)


def test_put_get_and_damaged_entries(tmp_path):
    cache = JobCache(tmp_path)
    key = cache_key(*BASE)
    assert cache.get(key) is None and key not in cache
    cache.put(key, b"container", {"bpfp": 1.5, "psnr_q": float("inf")})
    entry = cache.get(key)
    assert entry.container == b"container" and entry.metrics["bpfp"] == 1.5 and key in cache
    assert cache.keys() == [key]
    (tmp_path / key[:2] / f"{key}.bin").write_bytes(b"containeR")  # damaged: not trusted
    assert cache.get(key) is None
    with pytest.raises(ValueError, match="not a cache key"):
        cache.get("../../etc/passwd")
