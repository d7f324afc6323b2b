"""DINOv2 checkpoint files: official names, the HF <-> original key mapping, head state dicts.

One mapping table serves both directions: `hf_to_original` loads an HF-format directory
(config.json + model.safetensors, e.g. facebook/dinov2-giant) into our backbone, and
`original_to_hf` lets tests build the independent transformers model from the same weights.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from fcbench.codecs.common.types import PathLike
from fcbench.machines.weights import CheckpointError, find_file, load_state_dict, resolve

BACKBONE_FILE = "dinov2_vitg14_pretrain.pth"
# Beside BACKBONE_FILE when the backbone is not a published ViT: {"num_heads": N} (not in the weights).
ARCH_FILE = "fcbench-dinov2.json"
HEAD_FILES = {
    "cls": "dinov2_vitg14_linear_head.pth",
    "seg": "dinov2_vitg14_voc2012_linear_head.pth",
    "dpt": "dinov2_vitg14_nyu_linear4_head.pth",
}

# per block: original name -> HF name (q/k/v are split out of attn.qkv, gate/up out of mlp.w12)
_BLOCK_MAP = {
    "norm1.weight": "norm1.weight",
    "norm1.bias": "norm1.bias",
    "attn.proj.weight": "attention.o_proj.weight",
    "attn.proj.bias": "attention.o_proj.bias",
    "ls1.gamma": "layer_scale1.lambda1",
    "norm2.weight": "norm2.weight",
    "norm2.bias": "norm2.bias",
    "mlp.w3.weight": "mlp.down_proj.weight",
    "mlp.w3.bias": "mlp.down_proj.bias",
    "mlp.fc1.weight": "mlp.fc1.weight",
    "mlp.fc1.bias": "mlp.fc1.bias",
    "mlp.fc2.weight": "mlp.fc2.weight",
    "mlp.fc2.bias": "mlp.fc2.bias",
    "ls2.gamma": "layer_scale2.lambda1",
}
_FUSED = {"attn.qkv": ("attention.q_proj", "attention.k_proj", "attention.v_proj"), "mlp.w12": ("mlp.gate_proj", "mlp.up_proj")}
_TOP_MAP = {
    "cls_token": "embeddings.cls_token",
    "mask_token": "embeddings.mask_token",
    "pos_embed": "embeddings.position_embeddings",
    "patch_embed.proj.weight": "embeddings.patch_embeddings.projection.weight",
    "patch_embed.proj.bias": "embeddings.patch_embeddings.projection.bias",
    "norm.weight": "layernorm.weight",
    "norm.bias": "layernorm.bias",
}


def original_to_hf(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        if key in _TOP_MAP:
            out[_TOP_MAP[key]] = value
            continue
        m = re.match(r"blocks\.(\d+)\.(.+)\.(weight|bias)$|blocks\.(\d+)\.(ls[12]\.gamma)$", key)
        if not m:
            raise CheckpointError(f"unknown original DINOv2 key {key!r}")
        i = m.group(1) or m.group(4)
        name = f"{m.group(2)}.{m.group(3)}" if m.group(1) else m.group(5)
        module, _, kind = name.rpartition(".")
        if module in _FUSED:
            for part, chunk in zip(_FUSED[module], value.chunk(len(_FUSED[module]), dim=0)):
                out[f"encoder.layer.{i}.{part}.{kind}"] = chunk.clone()
        elif name in _BLOCK_MAP:
            out[f"encoder.layer.{i}.{_BLOCK_MAP[name]}"] = value
        else:
            raise CheckpointError(f"unknown original DINOv2 key {key!r}")
    return out


def hf_to_original(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    sd = {k.removeprefix("dinov2."): v for k, v in sd.items()}  # classification wrappers nest it
    top = {v: k for k, v in _TOP_MAP.items()}
    block = {v: k for k, v in _BLOCK_MAP.items()}
    out: dict[str, torch.Tensor] = {}
    layers = sorted({int(m.group(1)) for k in sd if (m := re.match(r"encoder\.layer\.(\d+)\.", k))})
    for key, value in sd.items():
        if key in top:
            out[top[key]] = value
        elif (m := re.match(r"encoder\.layer\.(\d+)\.(.+)$", key)) and m.group(2) in block:
            out[f"blocks.{m.group(1)}.{block[m.group(2)]}"] = value
    for i in layers:
        for fused, parts in _FUSED.items():
            for kind in ("weight", "bias"):
                keys = [f"encoder.layer.{i}.{p}.{kind}" for p in parts]
                if all(k in sd for k in keys):
                    out[f"blocks.{i}.{fused}.{kind}"] = torch.cat([sd[k] for k in keys], dim=0)
    if not layers or "pos_embed" not in out:
        raise CheckpointError("not an HF Dinov2 state dict (no encoder.layer.* / embeddings.position_embeddings)")
    return out


@dataclass
class BackboneSource:
    """Where the backbone weights came from, and what to build."""

    state_dict: dict[str, torch.Tensor]
    path: Path
    num_heads: Optional[int]


def load_backbone(location: Path) -> BackboneSource:
    """An official `.pth` file, a directory holding it, or an HF-format directory."""
    location = resolve(location, "DINOv2 backbone weights")
    if location.is_dir() and (location / "config.json").is_file() and not (location / BACKBONE_FILE).is_file():
        config = json.loads((location / "config.json").read_text())
        if config.get("model_type") != "dinov2":
            raise CheckpointError(f"{location}/config.json is model_type {config.get('model_type')!r}, not dinov2")
        if config.get("num_register_tokens"):
            raise CheckpointError(f"{location} is a DINOv2-with-registers model; fcbench's split points use the register-free ViT")
        weights = find_file(location, ["model.safetensors", "pytorch_model.bin"], "HF DINOv2 weights")
        return BackboneSource(hf_to_original(load_state_dict(weights)), weights, config.get("num_attention_heads"))
    path = find_file(location, [BACKBONE_FILE], "DINOv2 backbone weights")
    return BackboneSource(load_state_dict(path, unwrap=("state_dict", "model", "teacher")), path, _heads_beside(path))


def _heads_beside(path: Path) -> Optional[int]:
    """The attention head count written beside an official .pth (ARCH_FILE): the weights do not
    hold it, and the default (embed_dim / 64, right for the published ViTs) is wrong for others."""
    arch = path.parent / ARCH_FILE
    if not arch.is_file():
        return None
    try:
        heads = json.loads(arch.read_text()).get("num_heads")
    except (ValueError, AttributeError) as exc:
        raise CheckpointError(f"{arch} is not a JSON object with num_heads ({exc})") from None
    if isinstance(heads, bool) or not isinstance(heads, int) or heads < 1:
        raise CheckpointError(f"{arch}: num_heads must be a positive integer, got {heads!r}")
    return heads


def load_head(location: PathLike, task: str) -> tuple[dict[str, torch.Tensor], Path]:
    """The task head's state dict (official file name when `location` is a directory).

    mmseg/mmdepth checkpoints prefix the head's keys with `decode_head.`; that prefix is
    removed and any other top-level module keys are rejected (strict matching).
    """
    location = resolve(location, f"DINOv2 {task} head weights")
    path = find_file(location, [HEAD_FILES[task]], f"DINOv2 {task} head weights")
    sd = load_state_dict(path)
    if any(k.startswith("decode_head.") for k in sd):
        other = sorted(k for k in sd if not k.startswith("decode_head."))
        if other:
            raise CheckpointError(f"{path}: unexpected non-head keys {other[:5]}")
        sd = {k.removeprefix("decode_head."): v for k, v in sd.items()}
    return sd, path
