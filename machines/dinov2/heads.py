"""The reference's DINOv2 task heads, with the official checkpoints' key names.

- cls: `dinov2_vitg14_linear_head.pth` = nn.Linear((1+1)*D, 1000): keys `weight`, `bias`.
- seg: mmseg BNHead (`dinov2_vitg14_voc2012_linear_head.pth`): `bn.*` (BatchNorm2d D) and
  `conv_seg.*` (1x1 conv D -> classes).
- dpt: depth BNHead "linear4" (`dinov2_vitg14_nyu_linear4_head.pth`): `conv_depth.*` (1x1 conv
  4*2*D -> 256 bins); the official head has no BatchNorm (commented out upstream), a `bn.*`
  entry is honoured if a checkpoint has one.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from fcbench.machines.weights import CheckpointError, check_keys


def _load_strict(module: nn.Module, sd: dict[str, torch.Tensor], what: str) -> None:
    expected = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    check_keys(sd, expected, what, optional={k for k in expected if k.endswith("num_batches_tracked")})
    module.load_state_dict(sd, strict=False)


def _shape(sd: dict[str, torch.Tensor], key: str, what: str) -> tuple[int, ...]:
    if key not in sd:
        raise CheckpointError(f"{what}: missing key {key!r} (keys: {sorted(sd)[:8]})")
    return tuple(sd[key].shape)


class LinearClsHead(nn.Module):
    """concat[CLS, mean of patch tokens] of the final-normed tokens -> Linear."""

    def __init__(self, embed_dim: int, num_classes: int = 1000):
        super().__init__()
        self.linear = nn.Linear(2 * embed_dim, num_classes)

    @classmethod
    def from_state_dict(cls, sd: dict[str, torch.Tensor], embed_dim: int) -> "LinearClsHead":
        out, inp = _shape(sd, "weight", "DINOv2 linear cls head")
        if inp != 2 * embed_dim:
            raise CheckpointError(f"DINOv2 linear cls head: input width {inp} != 2 x embed_dim {embed_dim} (a 1-layer head is expected)")
        head = cls(embed_dim, out)
        _load_strict(head.linear, sd, "DINOv2 linear cls head")
        return head.eval()

    def forward(self, normed: torch.Tensor) -> torch.Tensor:
        return self.linear(torch.cat([normed[:, 0], normed[:, 1:].mean(dim=1)], dim=-1))


class SegBNHead(nn.Module):
    """BatchNorm + 1x1 conv over the (B, D, h, w) patch map -> class logits at patch resolution."""

    def __init__(self, embed_dim: int, num_classes: int = 21):
        super().__init__()
        self.bn = nn.BatchNorm2d(embed_dim)
        self.conv_seg = nn.Conv2d(embed_dim, num_classes, kernel_size=1)

    @classmethod
    def from_state_dict(cls, sd: dict[str, torch.Tensor], embed_dim: int) -> "SegBNHead":
        out, inp, _, _ = _shape(sd, "conv_seg.weight", "DINOv2 seg BNHead")
        if inp != embed_dim:
            raise CheckpointError(f"DINOv2 seg BNHead: input width {inp} != embed_dim {embed_dim}")
        head = cls(embed_dim, out)
        _load_strict(head, sd, "DINOv2 seg BNHead")
        return head.eval()

    def forward(self, patch_map: torch.Tensor) -> torch.Tensor:
        return self.conv_seg(self.bn(patch_map))


class DepthLinearHead(nn.Module):
    """Depth BNHead ("linear4"): per layer concat(patch map, CLS broadcast), bilinear upsample x4
    to the first layer's size, concat layers, 1x1 conv -> bins; "UD" bins with linear norm."""

    def __init__(self, channels: int, n_bins: int = 256, min_depth: float = 0.001, max_depth: float = 10.0, upsample: int = 4, bn: bool = False):
        super().__init__()
        self.upsample, self.min_depth, self.max_depth, self.n_bins = upsample, min_depth, max_depth, n_bins
        self.bn = nn.BatchNorm2d(channels) if bn else None
        self.conv_depth = nn.Conv2d(channels, n_bins, kernel_size=1)

    @classmethod
    def from_state_dict(cls, sd: dict[str, torch.Tensor], embed_dim: int, n_layers: int = 4, **kwargs: Any) -> "DepthLinearHead":
        out, inp, _, _ = _shape(sd, "conv_depth.weight", "DINOv2 depth head")
        if inp != 2 * n_layers * embed_dim:
            raise CheckpointError(f"DINOv2 depth head: input width {inp} != 2 x {n_layers} layers x embed_dim {embed_dim}")
        head = cls(inp, out, bn="bn.weight" in sd, **kwargs)
        _load_strict(head, sd, "DINOv2 depth head")
        return head.eval()

    def forward(self, layers: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """`layers`: (patch map (B, D, h, w), CLS (B, D)) per layer -> depth (B, 1, 4h, 4w), unclamped."""
        maps = [torch.cat([x, cls[:, :, None, None].expand_as(x)], dim=1) for x, cls in layers]
        size = [s * self.upsample for s in maps[0].shape[2:]]
        x = torch.cat([F.interpolate(m, size=size, mode="bilinear", align_corners=False) for m in maps], dim=1)
        if self.bn is not None:
            x = self.bn(x)
        logit = torch.relu(self.conv_depth(x)) + 0.1  # "linear" norm strategy (AdaBins)
        logit = logit / logit.sum(dim=1, keepdim=True)
        bins = torch.linspace(self.min_depth, self.max_depth, self.n_bins, device=x.device)
        return torch.einsum("ikmn,k->imn", logit, bins).unsqueeze(1)
