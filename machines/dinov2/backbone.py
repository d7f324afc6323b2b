"""The DINOv2 ViT backbone, built from an original-format state dict of any size.

Architecture and parameter names follow the official checkpoints (`dinov2_vit*14_pretrain.pth`):
`patch_embed.proj`, `cls_token` (1,1,D), `pos_embed` (1,1+M*M,D), `mask_token` (1,D),
`blocks.{i}.{norm1,attn.qkv,attn.proj,ls1.gamma,norm2,mlp.*,ls2.gamma}`, `norm`. The FFN is
SwiGLU (`mlp.w12` = [gate; up], silu(gate)*up -> `mlp.w3`, ViT-g) or GELU MLP (`mlp.fc1/fc2`).
Block outputs are captured with forward hooks on `blocks[i]` and can be replaced the same way,
which is how a reconstructed feature is injected at the split point.
"""
from __future__ import annotations

import contextlib
import math
import re
from typing import Any, Iterator, Literal, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from fcbench.machines.weights import CheckpointError, check_keys

FFN = Literal["swiglu", "mlp"]


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        # explicit softmax attention; the reference most likely ran xFormers' memory-efficient
        # kernel: the same maths, float rounding apart (docs/test-conditions.md §8)
        attn = (qkv[0] * self.scale) @ qkv[1].transpose(-2, -1)
        out = attn.softmax(dim=-1) @ qkv[2]
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class SwiGLU(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.w12 = nn.Linear(dim, 2 * hidden)
        self.w3 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.w12(x).chunk(2, dim=-1)
        return self.w3(F.silu(gate) * up)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class LayerScale(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class Block(nn.Module):
    def __init__(self, dim: int, num_heads: int, hidden: int, ffn: FFN, eps: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, num_heads)
        self.ls1 = LayerScale(dim)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = SwiGLU(dim, hidden) if ffn == "swiglu" else Mlp(dim, hidden)
        self.ls2 = LayerScale(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class PatchEmbed(nn.Module):
    def __init__(self, patch_size: int, dim: int):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(3, dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class Backbone(nn.Module):
    """DINOv2 ViT without registers. Block indices are 0-based (ViT-g's "block 40" is 39);
    negative indices count from the end."""

    def __init__(
        self,
        embed_dim: int,
        depth: int,
        num_heads: int,
        hidden: int,
        ffn: FFN = "swiglu",
        patch_size: int = 14,
        img_size: int = 518,
        interpolate_offset: float = 0.1,
        eps: float = 1e-6,
    ):
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim {embed_dim} is not divisible by num_heads {num_heads}")
        self.embed_dim, self.depth, self.num_heads, self.patch_size = embed_dim, depth, num_heads, patch_size
        self.interpolate_offset = interpolate_offset
        grid = img_size // patch_size
        self.patch_embed = PatchEmbed(patch_size, embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + grid * grid, embed_dim))
        self.mask_token = nn.Parameter(torch.zeros(1, embed_dim))  # unused at inference, kept for strict loading
        self.blocks = nn.ModuleList(Block(embed_dim, num_heads, hidden, ffn, eps) for _ in range(depth))
        self.norm = nn.LayerNorm(embed_dim, eps=eps)

    # ---- construction --------------------------------------------------------------------
    @classmethod
    def from_state_dict(
        cls,
        sd: dict[str, torch.Tensor],
        num_heads: Optional[int] = None,
        ffn: Optional[str] = None,
        interpolate_offset: float = 0.1,
        eps: float = 1e-6,
    ) -> "Backbone":
        """Build and load a backbone whose size is read off an original-format state dict.

        `num_heads` is not recoverable from the weights: default embed_dim // 64 (ViT-g: 24).
        `ffn` is checked against the keys ("swiglu" has `mlp.w12`, "mlp" has `mlp.fc1`).
        """
        sd = strip_chunks(sd)
        ffn = {"swiglufused": "swiglu"}.get(ffn, ffn) if ffn else None  # the reference's name for ViT-g
        if ffn not in (None, "swiglu", "mlp"):
            raise ValueError(f"ffn must be 'swiglu' (alias 'swiglufused') or 'mlp', got {ffn!r}")
        for key in ("patch_embed.proj.weight", "pos_embed", "cls_token", "norm.weight"):
            if key not in sd:
                raise CheckpointError(f"DINOv2 backbone state dict lacks {key!r}: not an original-format checkpoint")
        embed_dim, _, patch_size, _ = sd["patch_embed.proj.weight"].shape
        depth = 1 + max((int(m.group(1)) for k in sd if (m := re.match(r"blocks\.(\d+)\.", k))), default=-1)
        if depth == 0:
            raise CheckpointError("DINOv2 backbone state dict has no `blocks.*` keys")
        found: FFN = "swiglu" if "blocks.0.mlp.w12.weight" in sd else "mlp"
        if ffn is not None and ffn != found:
            raise CheckpointError(f"ffn={ffn!r} requested but the state dict holds a {found!r} FFN")
        hidden = sd["blocks.0.mlp.w12.weight"].shape[0] // 2 if found == "swiglu" else sd.get("blocks.0.mlp.fc1.weight", torch.zeros(0)).shape[0]
        npos = sd["pos_embed"].shape[1] - 1
        grid = math.isqrt(npos)
        if grid * grid != npos:
            raise CheckpointError(f"pos_embed has {npos} patch positions, not a square grid")
        num_heads = num_heads or max(1, embed_dim // 64)
        model = cls(embed_dim, depth, num_heads, hidden, found, patch_size, grid * patch_size, interpolate_offset, eps)
        model.load_original(sd)
        return model.eval()

    def load_original(self, sd: dict[str, torch.Tensor]) -> None:
        """Load with strict key and shape matching; errors list what does not fit."""
        sd = strip_chunks(sd)
        expected = {k: tuple(v.shape) for k, v in self.state_dict().items()}
        check_keys(sd, expected, "DINOv2 backbone checkpoint", optional={"mask_token"})
        self.load_state_dict(sd, strict=False)

    # ---- forward -------------------------------------------------------------------------
    def interpolate_pos_embed(self, height: int, width: int) -> torch.Tensor:
        """Position embeddings for an (height, width) input, by the reference's rule."""
        npatch = (height // self.patch_size) * (width // self.patch_size)
        n = self.pos_embed.shape[1] - 1
        if npatch == n and height == width:
            return self.pos_embed
        pos = self.pos_embed.float()
        m = math.isqrt(n)
        grid = pos[:, 1:].reshape(1, m, m, -1).permute(0, 3, 1, 2)
        h0, w0 = height // self.patch_size, width // self.patch_size
        kwargs: dict[str, Any]
        if self.interpolate_offset:
            # the offset avoids floating-point floor errors in the output size (reference rule)
            kwargs = {"scale_factor": ((h0 + self.interpolate_offset) / m, (w0 + self.interpolate_offset) / m)}
        else:
            kwargs = {"size": (h0, w0)}
        grid = F.interpolate(grid, mode="bicubic", align_corners=False, antialias=False, **kwargs)
        if grid.shape[-2:] != (h0, w0):
            raise RuntimeError(f"position embeddings resampled to {tuple(grid.shape[-2:])}, expected {(h0, w0)}")
        grid = grid.permute(0, 2, 3, 1).reshape(1, h0 * w0, -1)
        return torch.cat([pos[:, :1], grid], dim=1).to(self.pos_embed.dtype)

    def tokens(self, images: torch.Tensor) -> torch.Tensor:
        """Patch + CLS tokens with position embeddings: the input of block 0."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be (B, 3, H, W), got {tuple(images.shape)}")
        h, w = images.shape[-2:]
        if h % self.patch_size or w % self.patch_size:
            raise ValueError(f"image size {h}x{w} is not a multiple of the patch size {self.patch_size}; pad it first")
        x = self.patch_embed(images)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        return x + self.interpolate_pos_embed(h, w)

    def index(self, block: int) -> int:
        if not -self.depth <= block < self.depth:
            raise ValueError(f"block index {block} out of range for a {self.depth}-block backbone")
        return block % self.depth

    def forward(self, images: torch.Tensor, last: Optional[int] = None) -> torch.Tensor:
        """Run blocks 0..`last` (default: all); return the pre-norm output of `last`."""
        stop = self.depth - 1 if last is None else self.index(last)
        x = self.tokens(images)
        for blk in self.blocks[: stop + 1]:
            x = blk(x)
        return x

    def block_outputs(self, images: torch.Tensor, blocks: Sequence[int]) -> list[torch.Tensor]:
        """Pre-norm outputs (B, 1+patches, D) of `blocks`, captured by forward hooks."""
        idx = [self.index(b) for b in blocks]
        with self.capture(idx) as outputs:
            self.forward(images, last=max(idx))
        return [outputs[i] for i in idx]

    # ---- hooks ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def capture(self, blocks: Sequence[int]) -> Iterator[dict[int, torch.Tensor]]:
        """Record the outputs of `blocks` (0-based) into the yielded dict while active."""
        outputs: dict[int, torch.Tensor] = {}
        handles = []
        for b in {self.index(b) for b in blocks}:
            def hook(_m: nn.Module, _i: object, out: torch.Tensor, b: int = b) -> None:
                outputs[b] = out

            handles.append(self.blocks[b].register_forward_hook(hook))
        try:
            yield outputs
        finally:
            for h in handles:
                h.remove()

    @contextlib.contextmanager
    def inject(self, block: int, feature: torch.Tensor) -> Iterator[None]:
        """Replace the output of `block` by `feature` (same shape) while active."""
        b = self.index(block)

        def hook(_m: nn.Module, _i: object, out: torch.Tensor) -> torch.Tensor:
            if out.shape != feature.shape:
                raise ValueError(f"injected feature {tuple(feature.shape)} != block {b} output {tuple(out.shape)}")
            return feature.to(out.dtype)

        handle = self.blocks[b].register_forward_hook(hook)
        try:
            yield
        finally:
            handle.remove()


def strip_chunks(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Flatten `blocks.{chunk}.{i}.` (training checkpoints with block_chunks>0) to `blocks.{i}.`;
    drop the 'teacher.backbone.'/'backbone.' prefix of training checkpoints."""
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        for prefix in ("teacher.backbone.", "backbone."):
            if key.startswith(prefix):
                key = key[len(prefix):]
        out[key] = value
    chunked = [k for k in out if re.match(r"blocks\.\d+\.\d+\.", k)]
    if not chunked:
        return out
    flat: dict[str, torch.Tensor] = {}
    for key, value in out.items():
        m = re.match(r"blocks\.\d+\.(\d+)\.(.*)", key)
        flat[f"blocks.{m.group(1)}.{m.group(2)}" if m else key] = value
    return flat


def swiglu_hidden(embed_dim: int, mlp_ratio: float = 4.0) -> int:
    """Hidden width of the original SwiGLU FFN: 2/3 of the MLP width, rounded up to 8."""
    return (int(embed_dim * mlp_ratio * 2 / 3) + 7) // 8 * 8
