"""The klt codec: round trips for every layout (with and without matching earlier tokens), rate
from the real bytes, corrupt streams and wrong tables refused, the fitted table versioned (sha256
in the identity) and refitted only when its inputs change, the codec protocol's conformance
checks, the predictions paying where tokens correlate or repeat."""
from __future__ import annotations

import struct

import numpy as np
import pytest

from fcbench.codecs import FeatureSet, container_rate, get_codec
from fcbench.codecs.chain.container import ContainerError, pack_container, unpack_container
from fcbench.codecs.klt.codec import step_size
from fcbench.codecs.klt.fit import fit_table
from fcbench.codecs.klt.table import TableError, load_table


def correlated(rng, tokens: int, channels: int, rank: int = 6) -> np.ndarray:
    """Tokens x channels with strongly correlated channels and a heavy-tailed channel."""
    mix = rng.normal(0, 1, (rank, channels))
    x = rng.laplace(0, 1, (tokens, rank)) @ mix + 0.1 * rng.normal(0, 1, (tokens, channels))
    x[:, 3] += rng.standard_t(2, tokens) * 3  # outliers are coded too: nothing is truncated
    return x


def tensor(rng, shape, axis):
    n, c, h, w = shape
    if axis == 3:  # channels last, one group per C index
        return np.stack([correlated(rng, n * h, w).reshape(n, h, w) for _ in range(c)], axis=1)
    return correlated(rng, n * h * w, c).reshape(n, h, w, c).transpose(0, 3, 1, 2)


LAYOUTS = {  # layout: (shape, channel axis, dtype) - llama3 csr, dinov2 cls and dpt (4 layers), sd3 latents
    "llama3": ((1, 1, 40, 48), 3, np.float32),
    "dinov2": ((2, 4, 30, 32), 3, np.float32),
    "sd3": ((1, 16, 12, 10), 1, np.float16),
    "generic": ((1, 6, 9, 7), 1, np.float32),
}


def fitted(tmp_path, layout, seed=0):
    shape, axis, dtype = LAYOUTS[layout]
    rng = np.random.default_rng(seed)
    train = FeatureSet.create(tmp_path / f"train-{layout}", "synthetic", "t", "x")
    for i in range(3):
        train.write(f"s{i}", tensor(rng, shape, axis).astype(dtype))
    table, path, _ = fit_table(train, tmp_path / f"{layout}.npz", layout=layout, low_high=(-5, 5))
    return table, path, tensor(rng, shape, axis).astype(dtype)


def fixed_bytes(payload: bytes) -> int:
    """The payload's own header: version, fingerprint, CRC, length, and in version 2 the window."""
    return {1: 13, 2: 15}[payload[0]]


@pytest.mark.parametrize("match_window", [None, 0, 5])
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_round_trip_every_layout(tmp_path, layout, match_window):
    table, path, x = fitted(tmp_path, layout)
    codec = get_codec("klt", table=str(path), **({} if match_window is None else {"match_window": match_window}))
    assert len(table.groups) == (4 if layout == "dinov2" else 1)  # dpt: a table per layer
    errors, rates = [], []
    for qp in (12, 27, 42):
        data = codec.encode(x, qp, layout=layout)
        rec = codec.decode(data)
        assert rec.shape == x.shape and rec.dtype == x.dtype
        errors.append(float(np.mean((rec.astype(np.float64) - x.astype(np.float64)) ** 2)))
        rates.append(container_rate(data, "float32", codec).bpfp)
        if qp == 12:  # fine: every coefficient within two steps, so the mean error is small
            assert errors[-1] < (2 * step_size(qp, -5, 5)) ** 2
    assert errors == sorted(errors) and rates == sorted(rates, reverse=True)
    assert abs(float(x.max())) > 5 and np.abs(codec.decode(codec.encode(x, 12, layout=layout)) - x).max() < 1.0


def test_bits_are_counted_from_the_real_bytes_and_decoding_is_deterministic(tmp_path):
    _, path, x = fitted(tmp_path, "llama3")
    codec = get_codec("klt", table=str(path))
    data = codec.encode(x, 27, low=-5, high=5, layout="llama3")
    assert codec.encode(x, 27, low=-5, high=5, layout="llama3") == data
    header, payload = unpack_container(data)
    rate = container_rate(data, "float32", codec)
    assert payload[0] == 2 and fixed_bytes(payload) == 15  # channels last: matching by default
    assert rate.bpfp == pytest.approx(8 * (len(payload) - 15) / x.size)  # the stream; the fixed bytes in the container column
    assert header.transform == "none" and not header.truncated
    assert np.array_equal(codec.decode(data), get_codec("klt", table=str(path)).decode(data))


def test_corrupt_streams_and_wrong_tables_are_refused(tmp_path):
    _, path, x = fitted(tmp_path, "llama3")
    _, other, _ = fitted(tmp_path / "o", "llama3", seed=1) if (tmp_path / "o").mkdir() is None else (None,) * 3
    codec = get_codec("klt", table=str(path))
    data = codec.encode(x, 22, layout="llama3")
    header, payload = unpack_container(data)
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x10
    with pytest.raises(ContainerError):  # the container's CRC
        codec.decode(bytes(flipped))
    head = fixed_bytes(payload)
    garbage = payload[:head] + bytes(np.random.default_rng(0).integers(0, 256, len(payload) - head, dtype=np.uint8))
    for damaged in (payload[: len(payload) // 2 // 4 * 4], garbage, payload + b"\x01\x02\x03\x04", payload[:3]):
        with pytest.raises(ContainerError):  # a valid container around a broken stream: an error, not noise
            codec.decode(pack_container(header, damaged))
    rng = np.random.default_rng(1)
    for _ in range(40):  # one flipped bit anywhere in the stream (match flags, distances, coefficients)
        bad = bytearray(payload)
        bad[int(rng.integers(head, len(payload)))] ^= 1 << int(rng.integers(0, 8))
        with pytest.raises(ContainerError):
            codec.decode(pack_container(header, bytes(bad)))
    with pytest.raises(ContainerError, match="decode with the encoder's table"):
        get_codec("klt", table=str(other)).decode(data)
    with pytest.raises(ContainerError, match="payload version"):
        codec.decode(pack_container(header, struct.pack("<B", 9) + payload[1:]))


def test_table_errors_name_the_problem(tmp_path):
    _, path, x = fitted(tmp_path, "llama3")
    with pytest.raises(ValueError, match="needs table=PATH"):
        get_codec("klt")
    with pytest.raises(TableError, match="does not exist"):
        get_codec("klt", table=str(tmp_path / "missing.npz"))
    (tmp_path / "junk.npz").write_bytes(b"not a table")
    with pytest.raises(TableError, match="is not a klt table"):
        get_codec("klt", table=str(tmp_path / "junk.npz"))
    with pytest.raises(TableError, match="stage it"):
        get_codec("klt", table="s3://bucket/table.npz")
    codec = get_codec("klt", table=str(path))
    with pytest.raises(TableError, match="48 channels"):
        codec.encode(np.zeros((1, 1, 5, 50), np.float32), 22, layout="llama3")
    with pytest.raises(ValueError, match="integer QPs"):
        codec.encode(x, 22.5, layout="llama3")
    with pytest.raises(ValueError, match="outlier side channel does not apply"):
        codec.encode(x, 22, low=-1, high=1, layout="llama3", outliers=True)
    with pytest.raises(ValueError, match="deadzone"):
        get_codec("klt", table=str(path), deadzone=0.9)
    for bad in (-1, 70000, 2.5, True, "64"):
        with pytest.raises(ValueError, match="match_window"):
            get_codec("klt", table=str(path), match_window=bad)


def test_the_table_is_versioned_and_refitted_only_when_its_inputs_change(tmp_path):
    table, path, _ = fitted(tmp_path, "llama3")
    sha = load_table(path)[1]
    codec = get_codec("klt", table=str(path))
    assert codec.identity["binary_sha256"] == sha and codec.identity["options"]["table"]["sha256"] == sha
    summary = codec.identity["options"]["table"]
    assert summary["components"] == 48 and summary["fit"]["layout"] == "llama3" and summary["bytes"] == path.stat().st_size
    train = FeatureSet.open(tmp_path / "train-llama3")
    again, _, fitted_now = fit_table(train, path, layout="llama3", low_high=(-5, 5))
    assert not fitted_now and load_table(path)[1] == sha  # same inputs: kept
    fewer, _, fitted_now = fit_table(train, path, layout="llama3", low_high=(-5, 5), components=8)
    assert fitted_now and fewer.groups[0].components == 8 and load_table(path)[1] != sha
    path.write_bytes(path.read_bytes()[:100])  # damaged: refitted, not trusted
    assert fit_table(train, path, layout="llama3", low_high=(-5, 5), components=8)[2]
    assert table.meta["source"]["tokens"] == 3 * 40 and table.meta["fit"]["range_source"] == "given"


def test_the_klt_passes_the_codec_conformance_checks(tmp_path):
    from fcbench.codecs.conformance import check_codec

    rng = np.random.default_rng(3)
    train = FeatureSet.create(tmp_path / "train", "synthetic", "t", "x")
    train.write("a", tensor(rng, (1, 1, 200, 40), 3).astype(np.float32))
    _, path, _ = fit_table(train, tmp_path / "t.npz", layout="llama3")
    report = check_codec("klt", rate_points=[4, 22, 37], options={"table": str(path)}, shapes=[(1, 1, 24, 40)])
    assert not report.failed and len(report.passed) == 5


@pytest.mark.parametrize("layout", ["llama3", "sd3"])
def test_prediction_from_the_previous_token_or_row_pays_where_tokens_correlate(tmp_path, layout):
    """Tokens that follow an AR(1) law (smooth sequences; latent images row by row): the fitted
    table predicts them (rho), the stream is smaller at equal error, and decoding undoes the
    prediction exactly as the encoder made it (closed loop)."""
    shape, axis, dtype = LAYOUTS[layout]

    def smooth(seed):
        x = tensor(np.random.default_rng(seed), shape, axis).astype(np.float64)
        m = x.transpose(0, 2, 3, 1).reshape(-1, shape[1]) if axis == 1 else x.reshape(-1, shape[3])
        lag = 1 if axis == 3 else shape[3]
        for i in range(lag, len(m)):
            m[i] = 0.9 * m[i - lag] + 0.44 * m[i]
        out = m.reshape(shape[0], shape[2], shape[3], shape[1]).transpose(0, 3, 1, 2) if axis == 1 else m.reshape(shape)
        return out.astype(dtype)

    train = FeatureSet.create(tmp_path / "train", "synthetic", "t", "x")
    for i in range(3):
        train.write(f"s{i}", smooth(i))
    x = smooth(9)
    with_pred, path, _ = fit_table(train, tmp_path / "pred.npz", layout=layout, low_high=(-5, 5))
    without, plain, _ = fit_table(train, tmp_path / "plain.npz", layout=layout, low_high=(-5, 5), prediction=False)
    assert np.count_nonzero(with_pred.groups[0].prediction) > 0 and not np.any(without.groups[0].prediction)
    # the lag predictor alone: a match window would find the previous token too
    a, b = get_codec("klt", table=str(path), match_window=0), get_codec("klt", table=str(plain), match_window=0)
    for qp in (17, 32):
        da, db = a.encode(x, qp, layout=layout), b.encode(x, qp, layout=layout)
        ea, eb = (float(np.mean((c.decode(d).astype(np.float64) - x) ** 2)) for c, d in ((a, da), (b, db)))
        assert len(da) < 0.95 * len(db) and ea < 1.5 * eb + 1e-6, (qp, len(da), len(db), ea, eb)
    assert ea < (2 * step_size(17, -5, 5)) ** 2 * 10


def test_without_a_match_window_the_stream_is_version_1(tmp_path):
    """match_window=0 writes the stream klt wrote before matching existed (payload version 1, 13
    fixed bytes); channels-first tables (a few channels per position) match nothing by default."""
    _, path, x = fitted(tmp_path, "llama3")
    plain = get_codec("klt", table=str(path), match_window=0)
    assert plain.identity["options"]["match_window"] == 0
    assert get_codec("klt", table=str(path)).identity["options"]["match_window"] == 1024
    payload = unpack_container(plain.encode(x, 27, layout="llama3"))[1]
    assert payload[0] == 1 and container_rate(plain.encode(x, 27, layout="llama3"), "float32", plain).bpfp == \
        pytest.approx(8 * (len(payload) - 13) / x.size)
    (tmp_path / "sd3").mkdir()
    _, sd3_path, latent = fitted(tmp_path / "sd3", "sd3")
    assert unpack_container(get_codec("klt", table=str(sd3_path)).encode(latent, 27, layout="sd3"))[1][0] == 1
    version_2 = get_codec("klt", table=str(path)).encode(x, 27, layout="llama3")
    assert np.array_equal(plain.decode(version_2), get_codec("klt", table=str(path)).decode(version_2))  # the stream says


def test_matching_earlier_tokens_pays_where_tokens_repeat(tmp_path):
    """Tokens that recur far apart (a few prototypes, as special tokens and recurring words do in
    transformer features): a match window finds them, the stream is smaller at no higher error,
    and the decoder repeats the prediction from the distances it reads."""
    rng = np.random.default_rng(5)
    prototypes = correlated(rng, 6, 48)

    def recurring(seed):
        r = np.random.default_rng(seed)
        return (prototypes[r.integers(0, 6, 60)] + 0.05 * r.normal(0, 1, (60, 48))).reshape(1, 1, 60, 48).astype(np.float32)

    train = FeatureSet.create(tmp_path / "train", "synthetic", "t", "x")
    for i in range(3):
        train.write(f"s{i}", recurring(i))
    _, path, _ = fit_table(train, tmp_path / "t.npz", layout="llama3", low_high=(-5, 5))
    x = recurring(9)
    matching, plain = get_codec("klt", table=str(path), match_window=64), get_codec("klt", table=str(path), match_window=0)
    for qp in (17, 32):
        dm, dp = matching.encode(x, qp, layout="llama3"), plain.encode(x, qp, layout="llama3")
        em, ep = (float(np.mean((c.decode(d).astype(np.float64) - x) ** 2)) for c, d in ((matching, dm), (plain, dp)))
        assert len(dm) < 0.8 * len(dp) and em <= 1.1 * ep + 1e-9, (qp, len(dm), len(dp), em, ep)
