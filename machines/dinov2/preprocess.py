"""Input preprocessing exactly as the reference runs it (docs/test-conditions.md §1).

- cls: torchvision Resize(256) (bilinear, antialiased, PIL) + CenterCrop(224) + ToTensor +
  Normalize(ImageNet mean/std).
- seg: mmseg test pipeline: rescale so the short side is 512 (long side <= 2048, keep ratio,
  rounded sizes, bilinear on uint8), Normalize(mean 123.675/116.28/103.53, std 58.395/57.12/
  57.375); then 512x512 sliding windows with stride 341, each centre-padded with zeros to 518.
- dpt: native 480x640, same normalisation, centre-padded to 490x644; plus its horizontal flip.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
MMSEG_MEAN, MMSEG_STD = (123.675, 116.28, 103.53), (58.395, 57.12, 57.375)
SEG_SCALE = (2048, 512)  # (long side limit, short side)
SEG_CROP, SEG_STRIDE = 512, 341


def cls_input(pil_image) -> torch.Tensor:
    """(3, 224, 224) float32."""
    from torchvision import transforms

    t = transforms.Compose([
        transforms.Resize(256),
        transforms.CenterCrop(224),
        transforms.ToTensor(),
        transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ])
    return t(pil_image)


def normalize_255(rgb: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 RGB -> (3, H, W) float32 normalised with the mmseg mean/std."""
    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float()
    mean = torch.tensor(MMSEG_MEAN).view(3, 1, 1)
    std = torch.tensor(MMSEG_STD).view(3, 1, 1)
    return (x - mean) / std


def seg_size(height: int, width: int) -> tuple[int, int]:
    """mmcv `imrescale` size for the seg test scale: keep ratio, short side 512, long <= 2048."""
    scale = min(max(SEG_SCALE) / max(height, width), min(SEG_SCALE) / min(height, width))
    return int(height * scale + 0.5), int(width * scale + 0.5)


def seg_resize(rgb: np.ndarray) -> np.ndarray:
    """Bilinear rescale of a uint8 image to `seg_size` (half-pixel centres, no antialias,
    rounded back to uint8 as cv2 does)."""
    h, w = seg_size(*rgb.shape[:2])
    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float()
    x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
    return x[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()


def slide_windows(height: int, width: int, crop: int = SEG_CROP, stride: int = SEG_STRIDE) -> list[tuple[int, int, int, int]]:
    """(y1, y2, x1, x2) of mmseg's sliding windows, row-major (the order of the feature's N)."""
    boxes = []
    for hi in range(max(height - crop + stride - 1, 0) // stride + 1):
        for wi in range(max(width - crop + stride - 1, 0) // stride + 1):
            y2, x2 = min(hi * stride + crop, height), min(wi * stride + crop, width)
            boxes.append((max(y2 - crop, 0), y2, max(x2 - crop, 0), x2))
    return boxes


def center_pad(x: torch.Tensor, multiple: int = 14) -> torch.Tensor:
    """Zero-pad the last two dims up to a multiple, extra pixel on the right/bottom."""
    pads = []
    for size in (x.shape[-1], x.shape[-2]):
        total = math.ceil(size / multiple) * multiple - size
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


def patch_grid(height: int, width: int, patch: int = 14) -> tuple[int, int]:
    """Patch rows/cols of a centre-padded (height, width) input."""
    return math.ceil(height / patch), math.ceil(width / patch)
