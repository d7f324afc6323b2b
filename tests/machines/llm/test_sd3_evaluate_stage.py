"""sd3/tti through the pipeline's evaluate stage: FID is measured against the images of the
ORIGINAL latents, so it is 0 only for the uncompressed point and grows with the distortion."""
import json

import pytest

from fcbench.codecs import get_codec
from fcbench.components.codec_identity import identity_hash
from fcbench.components.stages.code_traditional import encode_decode
from fcbench.components.stages.evaluate import evaluate_points
from fcbench.components.stages.prepare_coding import prepare

pytestmark = pytest.mark.slow  # diffusion decodes on the CPU

QPS = (22, 37, 47)


def test_fid_is_zero_only_uncompressed_and_grows_with_distortion(sd3_assets, sd3_features, tmp_path):
    x265 = identity_hash(get_codec("x265").identity)
    _, grid, _ = prepare(str(sd3_features.root), "sd3", "tti", "traditional", "", "{}",
                         [{"codec": "x265", "identity_hash": x265}], list(QPS), str(tmp_path / "quantized"),
                         str(tmp_path / "quantized.json"))
    recons, rates = [str(tmp_path / "quantized")], [str(tmp_path / "quantized.json")]
    for item in grid:
        tag = f"x265-{item['rate_point']}"
        encode_decode(str(sd3_features.root), "x265", {}, x265, item["rate_point"], item["conditions"],
                      str(tmp_path / tag), str(tmp_path / f"{tag}.bits"), str(tmp_path / f"{tag}.json"))
        recons.append(str(tmp_path / tag))
        rates.append(str(tmp_path / f"{tag}.json"))
    options = {k: v for k, v in sd3_assets["options"].items()}
    points = evaluate_points(str(sd3_features.root), recons, rates, "sd3", "tti", str(sd3_assets["weights"]),
                             str(sd3_assets["data"]), str(sd3_assets["sample_list"]), json.dumps(options))
    fid = {(p["label"], p["rate_point"]): p["metric_value"] for p in points}
    mse = {(p["label"], p["rate_point"]): p["feature_mse"] for p in points}
    assert points[0]["metric"] == "fid" and fid[("uncompressed", 0.0)] == pytest.approx(0.0, abs=1e-9)
    lossy = [fid[("x265", q)] for q in QPS]
    assert all(v > 1e-9 for v in lossy), fid
    assert [mse[("x265", q)] for q in QPS] == sorted(mse[("x265", q)] for q in QPS)  # QP up: distortion up
    assert lossy == sorted(lossy), fid  # ... and FID with it
    assert fid[("bypass", 0)] > 0  # quantization alone is lossy too
