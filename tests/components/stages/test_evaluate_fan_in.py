"""The `evaluate` stage evaluates every point of a run with one machine: reconstructions are
paired with their rate results by content (never by list order), and each point equals what a
machine built for that point alone gives."""
import json
import shutil

import pytest

from fcbench.codecs import get_codec
from fcbench.components.codec_identity import identity_hash
from fcbench.components.stages.code_traditional import encode_decode
from fcbench.components.stages.evaluate import evaluate_points, pair_rates, point_metrics
from fcbench.components.stages.prepare_coding import prepare

QPS = (27, 37)


@pytest.fixture(scope="module")
def coded(tiny_features, tmp_path_factory):
    """The quantization-only point and x265 at two QPs, made by the stages' own functions."""
    out = tmp_path_factory.mktemp("coded")
    x265 = identity_hash(get_codec("x265").identity)
    _, grid, _ = prepare(str(tiny_features), "dinov2", "cls", "traditional", "", "{}",
                         [{"codec": "x265", "identity_hash": x265}], list(QPS), str(out / "quantized"),
                         str(out / "quantized.json"))
    recons, rates = [str(out / "quantized")], [str(out / "quantized.json")]
    for item in grid:
        tag = f"x265-{item['rate_point']}"
        encode_decode(str(tiny_features), "x265", {}, x265, item["rate_point"], item["conditions"], str(out / tag),
                      str(out / f"{tag}.bits"), str(out / f"{tag}.json"))
        recons.append(str(out / tag))
        rates.append(str(out / f"{tag}.json"))
    return recons, rates


def _machine_args(tiny_cls):
    return ("dinov2", "cls", tiny_cls["weights"], tiny_cls["data"], tiny_cls["sample_list"], tiny_cls["options"])


def test_rates_pair_with_their_reconstructions_whatever_the_order(coded):
    recons, rates = coded
    pairs = pair_rates(recons, list(reversed(rates)))
    assert [p[0] for p in pairs] == recons
    assert [source for _, (source, _) in pairs] == rates
    assert [(doc["label"], doc["summary"][0]["rate_point"]) for _, (_, doc) in pairs] == [("bypass", 0)] + [
        ("x265", q) for q in QPS]


def test_a_missing_or_foreign_rate_is_named(coded, tmp_path):
    recons, rates = coded
    with pytest.raises(ValueError, match="3 reconstructions but 2 rate results"):
        pair_rates(recons, rates[:2])
    with pytest.raises(ValueError, match="two rate results for x265 at rate point 27"):
        pair_rates(recons, [rates[0], rates[1], rates[1]])
    foreign = tmp_path / "foreign.json"
    doc = json.loads(open(rates[2]).read())
    doc["identity"] = {**doc["identity"], "version": "another build"}
    foreign.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"no rate results for the reconstruction .*x265-37"):
        pair_rates(recons, [rates[0], rates[1], str(foreign)])


def test_one_machine_evaluates_every_point_as_separate_machines_would(coded, tiny_cls, tiny_features):
    recons, rates = coded
    points = evaluate_points(str(tiny_features), recons, rates, *_machine_args(tiny_cls))
    assert [(p["label"], p["rate_point"]) for p in points] == [("uncompressed", 0.0), ("bypass", 0)] + [
        ("x265", q) for q in QPS]
    assert points[0]["bpfp"] == 32.0 and points[0]["feature_mse"] == 0.0
    by_qp = {p["rate_point"]: p for p in points if p["label"] == "x265"}
    assert 0 < by_qp[37]["bpfp"] < by_qp[27]["bpfp"] and by_qp[27]["feature_mse"] < by_qp[37]["feature_mse"]
    assert points[1]["samples"] == 4 and points[1]["enc_s"] is not None  # the sweep's rows, joined
    assert by_qp[27]["tags"]["codec.name"] == "x265"
    # the same points, each from a machine built for it alone
    for recon, rate, point in zip(recons, rates, points[1:]):
        alone = evaluate_points(str(tiny_features), [recon], [rate], *_machine_args(tiny_cls))[1]
        assert alone == point
    metrics = point_metrics(points)
    assert metrics["x265@qp27:bpfp"] == by_qp[27]["bpfp"] and "uncompressed:top1" in metrics
    assert metrics["bypass@qp0:top1"] == points[1]["metric_value"]


def test_a_failing_point_names_codec_and_rate_point(coded, tiny_cls, tiny_features, tmp_path):
    from fcbench.components.stages.context import StageError

    recons, rates = coded
    broken = tmp_path / "broken"
    shutil.copytree(recons[1], broken)
    next(broken.glob("*.npy")).write_bytes(b"not an array")
    with pytest.raises(StageError, match=r"stage evaluate failed \(model=dinov2, task=cls, label=x265, rate_point=27\)"):
        evaluate_points(str(tiny_features), [recons[0], str(broken)], [rates[0], rates[1]], *_machine_args(tiny_cls))


def test_two_chains_of_one_codec_keep_their_labels(coded, tiny_cls, tiny_features, tmp_path):
    """x265 and x265+side at the same QP: same codec build and rate point, other conditions."""
    from fcbench.codecs import chain

    recons, rates = coded
    plain = json.loads(open(rates[1]).read())
    side = chain.apply(plain["conditions"], {"outliers": True})
    x265 = identity_hash(get_codec("x265").identity)
    encode_decode(str(tiny_features), "x265", {}, x265, QPS[0], json.dumps(side), str(tmp_path / "side"),
                  str(tmp_path / "side.bits"), str(tmp_path / "side.json"), label="x265+side")
    pairs = pair_rates([str(tmp_path / "side"), recons[1]], [rates[1], str(tmp_path / "side.json")])
    assert [doc["label"] for _, (_, doc) in pairs] == ["x265+side", "x265"]
    points = evaluate_points(str(tiny_features), [recons[1], str(tmp_path / "side")], [rates[1], str(tmp_path / "side.json")],
                             *_machine_args(tiny_cls))
    assert [p["label"] for p in points] == ["uncompressed", "x265", "x265+side"]
    assert [p["codec"] for p in points] == [None, "x265", "x265"]  # the codec alone
    assert points[2]["params"]["chain.outliers"] is True and points[1]["params"]["chain.outliers"] is False
