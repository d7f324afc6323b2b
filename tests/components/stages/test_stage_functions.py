"""The components' plain functions (what each KFP task body calls), on real data."""
import json

import numpy as np
import pytest

from fcbench.components.inputs import local_path
from fcbench.components.rd_join import uncompressed_rate
from fcbench.components.stages.context import StageError
from fcbench.components.stages.evaluate import evaluate_points
from fcbench.components.stages.hyperprior_infer import checkpoint_file
from fcbench.components.stages.params import log_metrics, parse_json, restore_rate_point
from fcbench.components.stages.prepare_coding import prepare, rate_grid, resolve_conditions


def test_conditions_come_from_the_test_conditions_with_overrides():
    c = resolve_conditions("dinov2", "cls", "traditional", "", {})
    assert c == {"low": -20.0, "high": 20.0, "truncate": True, "bit_depth": 10, "layout": "dinov2", "quant": "round"}
    assert resolve_conditions("dinov2", "cls", "traditional", "legacy", {})["quant"] == "legacy"
    assert resolve_conditions("dinov2", "cls", "traditional", "", {}, preset="paper")["quant"] == "legacy"
    assert resolve_conditions("dinov2", "cls", "traditional", "round", {}, preset="paper")["quant"] == "round"
    assert resolve_conditions("dinov2", "cls", "learned", "", {"low": -1, "high": 1})["low"] == -1
    with pytest.raises(ValueError, match="unknown condition override"):
        resolve_conditions("dinov2", "cls", "traditional", "", {"qp": 3})
    with pytest.raises(ValueError, match="unknown codec family"):
        resolve_conditions("dinov2", "cls", "neural", "", {})
    with pytest.raises(ValueError, match="unknown quantization 'floor'"):
        resolve_conditions("dinov2", "cls", "traditional", "floor", {})


def test_grid_crosses_codecs_and_default_rate_points():
    conds = {"low": -20}
    grid = rate_grid([{"codec": "x265", "identity_hash": "h"}], [], "dinov2", "cls", "traditional", conds)
    assert [g["rate_point"] for g in grid] == [22, 27, 32, 37, 42]
    assert all(g["conditions"] == json.dumps(conds) and g["identity_hash"] == "h" for g in grid)
    one = rate_grid([{"codec": "hyperprior", "identity_hash": "", "rate_point": 0.01, "uri": "/m.pt"}], [],
                    "dinov2", "cls", "learned", conds)
    assert one == [{"codec": "hyperprior", "identity_hash": "", "rate_point": 0.01, "uri": "/m.pt", "options": {},
                    "conditions": json.dumps(conds), "label": "hyperprior"}]
    lambdas = rate_grid([{"codec": "hyperprior", "identity_hash": ""}], [], "dinov2", "cls", "learned", conds)
    assert [g["rate_point"] for g in lambdas] == [0.001, 0.0017, 0.003, 0.0035, 0.01]
    with pytest.raises(ValueError, match="lacks"):
        rate_grid([{"codec": "x265"}], [22], "dinov2", "cls", "traditional", conds)


def test_prepare_codes_the_quantization_only_point(tiny_features, tmp_path):
    conditions, grid, summary = prepare(str(tiny_features), "dinov2", "cls", "traditional", "", "{}",
                                        [{"codec": "x265", "identity_hash": "h"}], [32], str(tmp_path / "q"),
                                        str(tmp_path / "results.json"))
    assert [g["rate_point"] for g in grid] == [32]
    assert 10.0 <= summary["bpfp"] < 10.01 and summary["samples"] == 4  # 10-bit samples, no header
    assert summary["container_bpfp"] > 0 and summary["side_bpfp"] == 0
    assert 0.0 <= summary["clipped_fraction"] < 1.0
    rows = json.loads((tmp_path / "results.json").read_text())["summary"]
    assert [(r["codec"], r["rate_point"], r["bpfp"]) for r in rows] == [("bypass", 0, summary["bpfp"])]
    assert (tmp_path / "q" / "manifest.json").is_file()


def test_uncompressed_rate_is_the_stored_dtype():
    assert uncompressed_rate(["float32"]) == {"bpfp": 32.0, "side_bpfp": 0.0, "container_bpfp": 0.0, "ebpfp": 32.0,
                                              "feature_mse": 0.0, "feature_psnr": None, "enc_s": None, "dec_s": None}
    assert uncompressed_rate(["bfloat16"])["bpfp"] == 16.0
    with pytest.raises(ValueError, match="origin dtypes"):
        uncompressed_rate(["float32", "float16"])


def test_missing_rate_results_are_named(tiny_cls, tiny_features, tmp_path):
    with pytest.raises(StageError, match=r"stage evaluate failed .*rate results .*nothing\.json are missing"):
        evaluate_points(str(tiny_features), [str(tiny_features)], [str(tmp_path / "nothing.json")], "dinov2", "cls",
                        tiny_cls["weights"], tiny_cls["data"], tiny_cls["sample_list"], tiny_cls["options"])


def test_rate_point_types_survive_kfp_floats():
    assert restore_rate_point(32.0, integer=True) == 32 and isinstance(restore_rate_point(32.0, True), int)
    assert restore_rate_point(0.0017, integer=False) == 0.0017
    with pytest.raises(ValueError, match="not finite"):
        restore_rate_point(float("nan"), integer=False)


def test_parse_json_names_the_parameter():
    assert parse_json("", "machine_options") == {}
    with pytest.raises(ValueError, match="parameter machine_options is not valid JSON"):
        parse_json("{oops", "machine_options")


def test_local_path_checks_existence_and_schemes(tmp_path):
    assert local_path(f"file://{tmp_path}") == tmp_path
    with pytest.raises(FileNotFoundError, match="does not exist"):
        local_path(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="unsupported URI"):
        local_path("gs://bucket/x")


def test_checkpoint_file_inside_a_model_artifact(tmp_path):
    (tmp_path / "m.pt").write_bytes(b"x")
    assert checkpoint_file(str(tmp_path)) == str(tmp_path / "m.pt")
    (tmp_path / "n.pt").write_bytes(b"y")
    with pytest.raises(FileNotFoundError, match="one .pt file"):
        checkpoint_file(str(tmp_path))


def test_log_metrics_skips_non_finite_values():
    class Sink:
        def __init__(self):
            self.values = {}

        def log_metric(self, k, v):
            self.values[k] = v

    sink = Sink()
    log_metrics(sink, {"bpfp": 1, "psnr_q": float("inf"), "mse": None, "x": np.float64(2.0)})
    assert sink.values == {"bpfp": 1.0, "x": 2.0}
