"""FID and CLIP score against hand-computed values."""

import numpy as np
import pytest
import scipy.linalg
import torch

from fcbench.codecs.common import settings
from fcbench.machines.generative_metrics import FID, TINY_SUFFIX, ClipScore, TinyImageFeatures, fid_preprocess, load_clip, load_inception


def _images(seed, n, size=16):
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (n, 3, size, size), dtype=np.uint8))


def _hand_fid(a, b):
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * covmean))


def test_fid_matches_the_formula_with_scipy_sqrtm():
    net = TinyImageFeatures(num_features=6, seed=3)
    real, fake = _images(0, 20), _images(1, 15)
    fake[:, 0] = fake[:, 0] // 2  # shift one channel so the sets differ
    fid = FID(net)
    fid.update(real[:12], real=True)
    fid.update(real[12:], real=True)
    fid.update(fake, real=False)
    with torch.no_grad():  # images reach the extractor resized to 299x299 (PIL bicubic)
        a, b = net(fid_preprocess(real)).double().numpy(), net(fid_preprocess(fake)).double().numpy()
    expected = _hand_fid(a, b)
    assert expected > 1e-3
    assert fid.value() == pytest.approx(expected, rel=1e-4)


def test_fid_of_identical_sets_is_zero():
    fid = FID(TinyImageFeatures())
    imgs = _images(2, 8)
    fid.update(imgs, real=True)
    fid.update(imgs, real=False)
    assert fid.value() == pytest.approx(0.0, abs=1e-6)


def test_fid_input_errors(tmp_path):
    fid = FID(TinyImageFeatures())
    with pytest.raises(ValueError, match="uint8 images"):
        fid.update(torch.rand(2, 3, 8, 8), real=True)
    fid.update(_images(0, 1), real=True)
    with pytest.raises(ValueError, match="at least 2 images"):
        fid.value()
    with pytest.raises(ValueError, match="never downloads"):
        load_inception(None)
    with pytest.raises(FileNotFoundError):
        load_inception(tmp_path / "pt_inception.pth")


def test_tiny_feature_file_round_trips(tmp_path):
    net = TinyImageFeatures(num_features=5, seed=7)
    path = tmp_path / f"x{TINY_SUFFIX}"
    torch.save(net.state_dict(), path)
    loaded = load_inception(path)
    imgs = _images(4, 3)
    with torch.no_grad():
        assert torch.equal(loaded(imgs), net(imgs))


def test_torch_fidelity_inception_loads_from_a_local_file(tmp_path, monkeypatch):
    """The reference's extractor class, from a local weights file (random weights with the real
    layout, made once by skipping the constructor's load): uint8 in, 2048-d features out."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    path = tmp_path / "pt_inception-random.pth"
    with monkeypatch.context() as m:
        m.setattr(FeatureExtractorInceptionV3, "load_state_dict", lambda self, state: None)
        m.setattr(torch, "load", lambda *a, **k: {})
        layout = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path="unused")
    torch.save(layout.state_dict(), path)
    net = load_inception(path)
    with torch.no_grad():
        out = net(_images(0, 2, size=64))  # resized to 299 inside
    assert out.shape == (2, 2048) and torch.isfinite(out).all()


@pytest.mark.skipif(not settings.INCEPTION_WEIGHTS.get(),
                    reason="set FCBENCH_INCEPTION_WEIGHTS to a local pt_inception-2015-12-05 file to check the 2048-d extractor")
def test_real_inception_gives_2048_features():
    net = load_inception(settings.INCEPTION_WEIGHTS.get())
    with torch.no_grad():
        out = net(_images(0, 2, size=64))
    assert out.shape == (2, 2048)


def test_clip_score_matches_cosine_similarity(sd3_assets):
    model, processor = load_clip(sd3_assets["options"]["clip"])
    images = _images(5, 3, size=32)
    captions = ["a red bus on the street", "a cat", "two dogs with a pizza"]
    scorer = ClipScore(sd3_assets["options"]["clip"])
    per_pair = scorer.update(images[:2], captions[:2]) + scorer.update(images[2:], captions[2:])
    with torch.no_grad():
        img = model.get_image_features(pixel_values=processor(images=list(images), return_tensors="pt")["pixel_values"]).pooler_output
        tok = processor(text=captions, return_tensors="pt", padding=True)
        txt = model.get_text_features(input_ids=tok["input_ids"], attention_mask=tok["attention_mask"]).pooler_output
    cos = torch.nn.functional.cosine_similarity(img, txt).numpy() * 100
    assert per_pair == pytest.approx(np.maximum(cos, 0), abs=1e-3)
    assert scorer.value() == pytest.approx(max(float(cos.mean()), 0.0), abs=1e-3)
    with pytest.raises(ValueError, match="2 images but 1 captions"):
        scorer.update(images[:2], captions[:1])
    with pytest.raises(FileNotFoundError, match="CLIP model folder"):
        load_clip("/nonexistent/clip")
