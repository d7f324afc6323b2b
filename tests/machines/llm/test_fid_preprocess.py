"""FID's input as the reference prepares it: uint8 images (as a PNG holds them) resized to
299x299 with PIL bicubic (antialiased), then torchmetrics' FID."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torchmetrics.image.fid import FrechetInceptionDistance

from fcbench.machines.generative_metrics import FID, FID_SIZE, TinyImageFeatures, fid_preprocess


def _images(seed: int, n: int, h: int = 200, w: int = 256) -> torch.Tensor:
    """Smooth gradients plus texture: a real image's mix of low and high frequencies."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = (127 + 100 * np.sin(xx[None, None] / rng.uniform(5, 30, (n, 3, 1, 1)) + yy[None, None] / 17.0))
    noisy = base + rng.normal(0, 25, (n, 3, h, w))
    return torch.from_numpy(np.clip(np.round(noisy), 0, 255).astype(np.uint8))


def test_resize_is_the_pil_path_through_png_files(tmp_path):
    images = _images(0, 3)
    expected = []
    for i, img in enumerate(images):
        path = tmp_path / f"{i}.png"
        Image.fromarray(img.permute(1, 2, 0).numpy()).save(path)  # what the reference writes
        with Image.open(path) as png:
            expected.append(np.asarray(png.convert("RGB").resize((299, 299), Image.BICUBIC)))
    got = fid_preprocess(images)
    assert got.dtype == torch.uint8 and got.shape == (3, 3, FID_SIZE, FID_SIZE)
    np.testing.assert_array_equal(got.permute(0, 2, 3, 1).numpy(), np.stack(expected))
    # not what torch's own resize gives (bilinear, no antialias): the difference FIDs had
    plain = torch.nn.functional.interpolate(images.float(), size=(299, 299), mode="bilinear", align_corners=False)
    assert (plain.round().clamp(0, 255).to(torch.uint8) != got).float().mean() > 0.5


def test_fid_sees_the_resized_images():
    net = TinyImageFeatures(num_features=6, seed=1)
    real, fake = _images(1, 6), _images(2, 5, h=180, w=300)
    fid = FID(net)
    fid.update(real, real=True)
    fid.update(fake, real=False)
    reference = FrechetInceptionDistance(feature=net, normalize=False)
    reference.update(fid_preprocess(real), real=True)
    reference.update(fid_preprocess(fake), real=False)
    assert fid.value() == pytest.approx(float(reference.compute()), rel=1e-9)
    unresized = FID(net, resize=False)
    unresized.update(real, real=True)
    unresized.update(fake, real=False)
    assert unresized.value() != pytest.approx(fid.value(), rel=1e-3)
