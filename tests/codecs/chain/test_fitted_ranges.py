"""Ranges fitted to training features (codecs/chain/fitted_ranges.py) and their trip through the
container."""
import json

import numpy as np
import pytest

from fcbench.codecs import get_codec
from fcbench.codecs.chain import fitted_ranges as F
from fcbench.codecs.chain.container import unpack_container
from fcbench.codecs.features.synthetic import heavy_tailed


def train_set() -> list[np.ndarray]:
    return [heavy_tailed("massive", 120, 24, seed=s) for s in range(3)]


@pytest.mark.parametrize("axis,entries", [(3, 24), (None, 1)])
def test_ranges_contain_the_quantiles_and_are_short_floats(axis, entries):
    samples = train_set()
    table = F.fit(samples, axis=axis, tail=0.01)
    assert table.axis == axis and len(table.low) == entries and table.samples == 3
    data = np.concatenate([s.reshape(-1, 24) for s in samples]) if axis == 3 else np.concatenate([s.ravel() for s in samples])[:, None]
    q_lo, q_hi = np.quantile(data, [0.01, 0.99], axis=0)
    lo, hi = np.asarray(table.low), np.asarray(table.high)
    assert np.all(lo <= q_lo) and np.all(hi >= q_hi)
    assert np.all(lo >= q_lo - np.abs(q_lo) / 2**7 - 1e-9) and np.all(hi <= q_hi + np.abs(q_hi) / 2**7 + 1e-9)
    for v in table.low + table.high:  # 8 significant bits: exact in float32, mantissa tail zero
        m, _ = np.frexp(v)
        assert m * 256 == int(m * 256)


def test_tail_zero_is_min_and_max_per_layer():
    x = np.random.default_rng(0).normal(0, [1, 2, 10, 20], (2, 6, 5, 4)).transpose(0, 3, 1, 2).astype(np.float32)
    table = F.fit([x], axis=1, tail=0.0)
    per_layer = np.moveaxis(x, 1, 0).reshape(4, -1)
    assert np.all(np.asarray(table.low) <= per_layer.min(1)) and np.all(np.asarray(table.high) >= per_layer.max(1))
    assert table.conditions() == {"low": table.low, "high": table.high, "range_axis": 1}


def test_constant_channel_gets_a_nonempty_range():
    table = F.fit([np.full((1, 1, 5, 3), 2.5, np.float32)], axis=3, tail=0.0)
    assert all(h > low for low, h in zip(table.low, table.high))


def test_fitting_errors_are_named():
    with pytest.raises(ValueError, match="training sample 1 has 12 entries on axis 3, the first had 24"):
        F.fit([heavy_tailed("student", 10, 24), heavy_tailed("student", 10, 12)], axis=3)
    with pytest.raises(ValueError, match="no training samples"):
        F.fit([], axis=3)
    with pytest.raises(ValueError, match="tail must be in"):
        F.fit(train_set(), tail=0.5)
    with pytest.raises(ValueError, match="range axis"):
        F.fit(train_set(), axis=2)
    bad = np.ones((1, 1, 2, 8), np.float32)
    bad[0, 0, 1, 1] = np.nan
    with pytest.raises(ValueError, match="training sample 0 contains non-finite"):
        F.fit([bad])


def test_save_load_round_trip_and_bad_files(tmp_path):
    table = F.fit(train_set(), axis=3, tail=1e-3, source="unit test")
    path = tmp_path / "ranges.json"
    F.save(table, path)
    assert F.load(path) == table
    assert json.loads(path.read_text())["format"] == F.FORMAT
    with pytest.raises(ValueError, match="does not exist"):
        F.load(tmp_path / "missing.json")
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(ValueError, match="junk.json is not readable JSON"):
        F.load(tmp_path / "junk.json")
    (tmp_path / "other.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ValueError, match="is not an fcbench-ranges/1 file"):
        F.load(tmp_path / "other.json")
    obj = table.as_json()
    del obj["high"]
    (tmp_path / "short.json").write_text(json.dumps(obj))
    with pytest.raises(ValueError, match="lacks the field 'high'"):
        F.load(tmp_path / "short.json")
    obj = table.as_json()
    obj["high"][3] = obj["low"][3]
    (tmp_path / "flat.json").write_text(json.dumps(obj))
    with pytest.raises(ValueError, match="entry 3 is not a finite low < high"):
        F.load(tmp_path / "flat.json")


def test_the_container_carries_a_fitted_table_exactly_and_compactly():
    table = F.fit(train_set(), axis=3, tail=1e-3)
    x = heavy_tailed("massive", 64, 24, seed=9)
    codec = get_codec("bypass")
    data = codec.encode(x, 0, layout="llama3", **table.conditions())
    header, _ = unpack_container(data)
    assert data[4] == 2 and header.range_axis == 3  # format 2: ranges along the hidden channels
    assert list(header.low) == table.low and list(header.high) == table.high
    lo, hi = np.asarray(table.low), np.asarray(table.high)
    recon = codec.decode(data)
    step = (hi - lo) / 1023
    assert np.all(np.abs(recon - np.clip(x, lo, hi)) <= step / 2 + 1e-5)
    assert len(data) - len(unpack_container(data)[1]) < 8 * 2 * 24  # under float32 pairs


def test_long_tables_are_rounded_to_float32_before_use():
    x = heavy_tailed("student", 8, 24, seed=3)
    low = [-1.1] * 24  # not float32-exact: the container stores float32, the encoder must use it
    codec = get_codec("bypass")
    header, _ = unpack_container(codec.encode(x, 0, low=low, high=[1.3] * 24, range_axis=3, layout="llama3"))
    assert header.low[0] == float(np.float32(-1.1)) != -1.1
    same = codec.encode(x, 0, low=list(header.low), high=list(header.high), range_axis=3, layout="llama3")
    np.testing.assert_array_equal(codec.decode(same), codec.decode(codec.encode(x, 0, low=low, high=[1.3] * 24,
                                                                                range_axis=3, layout="llama3")))
