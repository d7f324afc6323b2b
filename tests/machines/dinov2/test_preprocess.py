"""The reference's input geometry: seg rescale + sliding windows, centre padding, cls crop."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from fcbench.machines.dinov2 import preprocess as pre


def test_seg_rescale_sizes():
    assert pre.seg_size(375, 500) == (512, 683)  # typical VOC landscape
    assert pre.seg_size(500, 332) == (771, 512)
    assert pre.seg_size(500, 500) == (512, 512)
    assert pre.seg_size(100, 1000) == (205, 2048)  # long side capped at 2048


def test_slide_windows_follow_mmseg():
    assert pre.slide_windows(512, 512) == [(0, 512, 0, 512)]
    assert pre.slide_windows(512, 683) == [(0, 512, 0, 512), (0, 512, 171, 683)]
    # 3 windows along a long side: x1 = 0, 341, then clamped to end - 512
    assert pre.slide_windows(512, 1000) == [(0, 512, 0, 512), (0, 512, 341, 853), (0, 512, 488, 1000)]
    assert len(pre.slide_windows(771, 512)) == 2


def test_center_pad_and_grids():
    x = torch.ones(1, 3, 512, 512)
    y = pre.center_pad(x)
    assert y.shape == (1, 3, 518, 518)
    assert y[0, 0, :3].abs().sum() == 0 and y[0, 0, 3:515, 3:515].min() == 1 and y[0, 0, 515:].abs().sum() == 0
    z = pre.center_pad(torch.ones(2, 3, 480, 640))
    assert z.shape == (2, 3, 490, 644)
    assert z[0, 0, 5, 2] == 1 and z[0, 0, 4, 2] == 0 and z[0, 0, 5, 1] == 0 and z[0, 0, 484, 641] == 1 and z[0, 0, 485, 641] == 0
    assert pre.patch_grid(480, 640) == (35, 46) and pre.patch_grid(512, 512) == (37, 37)


def test_normalisation_and_cls_input():
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[..., 0] = 255
    x = pre.normalize_255(rgb)
    assert torch.allclose(x[:, 0, 0], torch.tensor([(255 - 123.675) / 58.395, -116.28 / 57.12, -103.53 / 57.375]))
    img = Image.fromarray(np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8))
    t = pre.cls_input(img)
    assert t.shape == (3, 224, 224) and t.dtype == torch.float32


def test_seg_resize_is_bilinear_on_uint8():
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[:, 1] = 200
    out = pre.seg_resize(rgb)
    assert out.shape == (512, 512, 3) and out.dtype == np.uint8
    assert out[0, 0, 0] == 0 and out[0, -1, 0] == 200 and 90 <= out[0, 256, 0] <= 110
