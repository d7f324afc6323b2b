"""SD3 tti machine on a tiny random-weight SD3 pipeline (stock diffusers/transformers classes)."""
import math

import numpy as np
import pytest
import torch

from fcbench.codecs.features.featureset import FeatureSet, FeatureSetError
from fcbench.machines import get_machine
from fcbench.machines.text import load_captions


def test_extract_writes_latents_in_caption_order(sd3, sd3_features, sd3_assets):
    ids = sd3_assets["sample_list"].read_text().split()
    ids = [i.removesuffix(".jpg") for i in ids]
    assert sd3_features.ids == ids
    for n, sample_id in enumerate(ids):
        info = sd3_features.info(sample_id)
        assert info.shape == [1, 16, 16, 16] and info.dtype == "float32"
        assert info.extra["batch_index"] == n // 2
    meta = sd3_features.meta
    assert (meta["steps"], meta["guidance"], meta["seed"], meta["batch"]) == (2, 7.0, 3407, 2)
    assert len(meta["checkpoint_sha256"]) == 64


def test_decoding_the_stored_latent_reproduces_the_pipeline_image_exactly(sd3, sd3_features, sd3_assets):
    """The head (un-scale/shift + VAE decode) on the unmodified feature gives exactly the image
    the stock pipeline makes in one go; a perturbed latent gives another image."""
    captions = load_captions(sd3_assets["data"], sd3_assets["sample_list"])[:2]
    s = sd3.settings
    generator = torch.Generator().manual_seed(s["seed"])
    with torch.no_grad():
        images = sd3.pipe(prompt=[c.text for c in captions], negative_prompt=["", ""], num_inference_steps=s["steps"],
                          guidance_scale=s["guidance"], height=s["height"], width=s["width"], generator=generator,
                          output_type="np").images
    expected = torch.from_numpy(np.round(images * 255).astype(np.uint8)).permute(0, 3, 1, 2)
    latents = torch.from_numpy(np.concatenate([sd3_features.read(c.id) for c in captions]))
    decoded = sd3.decode(latents)
    assert torch.equal(decoded, expected)
    assert not torch.equal(sd3.decode(latents + 0.5), expected)


def test_resume_matches_a_full_run(sd3, sd3_features, sd3_assets, tmp_path):
    """Skipped batches advance the generator like generated ones, so a resumed extraction
    (first batch present, a later batch partly missing) is byte-identical to a full one."""
    out = tmp_path / "fs"
    fs = sd3.extract(sd3_assets["data"], out, sample_list=sd3_assets["sample_list"], limit=2)
    assert len(fs) == 2
    fs = sd3.extract(sd3_assets["data"], out, sample_list=sd3_assets["sample_list"])
    (out / f"{fs.ids[3]}.npy").unlink()
    kept = (out / f"{fs.ids[2]}.npy").stat().st_mtime_ns
    fs = sd3.extract(sd3_assets["data"], out, sample_list=sd3_assets["sample_list"])
    assert (out / f"{fs.ids[2]}.npy").stat().st_mtime_ns == kept
    assert fs.ids == sd3_features.ids
    for sample_id in fs.ids:
        assert np.array_equal(fs.read(sample_id), sd3_features.read(sample_id)), sample_id


def test_uncompressed_evaluation(sd3, sd3_features, sd3_assets):
    ev = sd3.evaluate(sd3_features.root, sd3_assets["data"], reference=sd3_features.root)
    assert [m.name for m in ev.metrics] == ["fid", "clip_score"]
    assert ev.primary.direction == "lower" and ev.primary.value == pytest.approx(0.0, abs=1e-6)
    assert ev.metrics[1].direction == "higher" and ev.metrics[1].value >= 0
    assert ev.feature_mse == 0.0
    assert all(r["image_psnr"] == math.inf and r["latent_mse"] == 0.0 for r in ev.per_sample)
    assert [r["id"] for r in ev.per_sample] == sd3_features.ids


def test_degraded_latents_raise_fid_and_report_mse(sd3, sd3_features, sd3_assets, tmp_path):
    rng = np.random.default_rng(0)
    noisy = FeatureSet.create(tmp_path / "noisy", "sd3", "tti", sd3_features.meta["split_point"])
    errors = []
    for sample_id, x in sd3_features:
        y = (x + rng.standard_normal(x.shape) * 1.5).astype(x.dtype)
        noisy.write(sample_id, y)
        errors.append(np.mean((x.astype(np.float64) - y) ** 2))
    ev = sd3.evaluate(noisy, sd3_assets["data"], reference=sd3_features)
    assert ev.primary.value > 1e-6
    assert ev.feature_mse == pytest.approx(np.mean(errors), rel=1e-12)
    assert [r["latent_mse"] for r in ev.per_sample] == pytest.approx(errors, rel=1e-12)
    assert all(np.isfinite(r["image_psnr"]) for r in ev.per_sample)


def test_evaluation_needs_local_inception_and_matching_sets(sd3_assets, sd3_features, tmp_path):
    opts = {k: v for k, v in sd3_assets["options"].items() if k not in ("inception", "clip")}
    m = get_machine("sd3", "tti", weights=sd3_assets["weights"], **opts)
    with pytest.raises(ValueError, match="inception="):
        m.evaluate(sd3_features, sd3_assets["data"], reference=sd3_features)
    with pytest.raises(FileNotFoundError, match="Inception weights file"):
        m.evaluate(sd3_features, sd3_assets["data"], reference=sd3_features, inception=tmp_path / "missing.pth")
    ev = m.evaluate(sd3_features, sd3_assets["data"], reference=sd3_features,
                    inception=sd3_assets["options"]["inception"])
    assert [x.name for x in ev.metrics] == ["fid"]  # no CLIP model given
    partial = FeatureSet.create(tmp_path / "partial", "sd3", "tti", "x")
    partial.write(sd3_features.ids[0], sd3_features.read(sd3_features.ids[0]))
    partial.write(sd3_features.ids[1], sd3_features.read(sd3_features.ids[1]))
    with pytest.raises(ValueError, match="lacks 3 reference samples"):
        m.evaluate(partial, sd3_assets["data"], reference=sd3_features, inception=sd3_assets["options"]["inception"])
    wrong = FeatureSet.create(tmp_path / "wrong", "llama3", "csr", "x")
    wrong.write("a", np.zeros((1, 1, 2, 4), np.float32))
    with pytest.raises(FeatureSetError, match="not sd3/tti"):
        m.evaluate(wrong, sd3_assets["data"], reference=sd3_features)


def test_fid_refuses_to_run_without_the_original_latents(sd3, sd3_features, sd3_assets):
    """FID of a set against itself is 0 whatever the coding did: without the original latents
    there is no FID to compute, so there is no default."""
    from fcbench.machines.base import machine_needs_reference

    assert machine_needs_reference("sd3", "tti") and not machine_needs_reference("dinov2", "cls")
    with pytest.raises(ValueError, match="ORIGINAL latents"):
        sd3.evaluate(sd3_features, sd3_assets["data"])


def test_the_original_images_are_made_once_per_reference(sd3, sd3_features, sd3_assets, tmp_path, monkeypatch):
    """Rate points evaluated against one reference decode the original latents once; the FID of
    each point is the FID a fresh machine computes for it alone."""
    noisy = {}
    for scale in (0.5, 2.0):
        fs = FeatureSet.create(tmp_path / f"noisy{scale}", "sd3", "tti", sd3_features.meta["split_point"])
        rng = np.random.default_rng(1)
        for sample_id, x in sd3_features:
            fs.write(sample_id, (x + rng.standard_normal(x.shape) * scale).astype(x.dtype))
        noisy[scale] = fs
    alone = {s: get_machine("sd3", "tti", weights=sd3_assets["weights"], **sd3_assets["options"]).evaluate(
        fs, sd3_assets["data"], reference=sd3_features).primary.value for s, fs in noisy.items()}
    machine = get_machine("sd3", "tti", weights=sd3_assets["weights"], **sd3_assets["options"])
    decoded = []
    original_decode = machine.decode
    monkeypatch.setattr(machine, "decode", lambda latents: decoded.append(1) or original_decode(latents))
    together = {s: machine.evaluate(fs, sd3_assets["data"], reference=sd3_features).primary.value
                for s, fs in noisy.items()}
    n = len(sd3_features.ids)
    assert len(decoded) == n + 2 * n  # the originals once, then each point's own images
    assert together == pytest.approx(alone, rel=1e-9) and 0 < together[0.5] < together[2.0]


def test_bad_options(sd3_assets, tmp_path):
    with pytest.raises(TypeError, match="unknown options"):
        get_machine("sd3", "tti", weights=sd3_assets["weights"], layer=3)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        get_machine("sd3", "tti", weights=tmp_path / "none")
    with pytest.raises(ValueError, match="batch and steps"):
        get_machine("sd3", "tti", weights=sd3_assets["weights"], batch=0)
