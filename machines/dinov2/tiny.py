"""Tiny random-weight DINOv2 assets for tests and demos (no model hub needed).

`make_assets(root, task)` writes original-format checkpoints under the official file names
(a small SwiGLU ViT and the task's head) and a synthetic dataset in the official folder layout.
Like the reference's test sets (its 100 ImageNet images are ones the model classifies right),
the synthetic ground truth is what the tiny model itself predicts from the uncompressed
features - so the uncompressed score is the best one (top-1/mIoU 100 %, RMSE ~0 up to the
depth PNG's millimetre rounding) and coding damage shows as a drop.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fcbench.codecs.common.types import PathLike
from fcbench.machines.dinov2.backbone import FFN, Backbone, swiglu_hidden
from fcbench.machines.dinov2.checkpoints import ARCH_FILE, BACKBONE_FILE, HEAD_FILES, original_to_hf
from fcbench.machines.images import Sample

TASKS = ("cls", "seg", "dpt")


def tiny_backbone_state_dict(embed_dim: int = 64, depth: int = 4, num_heads: int = 4, seed: int = 0,
                             ffn: FFN = "swiglu") -> dict[str, torch.Tensor]:
    """Random weights with the official key names and shapes of a small config."""
    torch.manual_seed(seed)
    hidden = swiglu_hidden(embed_dim) if ffn == "swiglu" else 4 * embed_dim
    model = Backbone(embed_dim, depth, num_heads, hidden, ffn)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("gamma"):
                p.uniform_(0.1, 1.0)
            elif name in ("pos_embed", "cls_token", "mask_token"):
                p.normal_(0, 0.5)
            elif "norm" in name:
                p.copy_(1 + 0.1 * torch.randn_like(p) if name.endswith("weight") else 0.1 * torch.randn_like(p))
    return {k: v.clone() for k, v in model.state_dict().items()}


def tiny_head_state_dict(task: str, embed_dim: int = 64, n_layers: int = 4, seed: int = 0) -> dict[str, Any]:
    """Head weights in the official format (mmcv `state_dict` + `decode_head.` for seg/dpt)."""
    g = torch.Generator().manual_seed(seed + 1)
    if task == "cls":
        return {"weight": 0.05 * torch.randn(1000, 2 * embed_dim, generator=g), "bias": 0.01 * torch.randn(1000, generator=g)}
    if task == "seg":
        sd = {
            "bn.weight": 1 + 0.1 * torch.randn(embed_dim, generator=g),
            "bn.bias": 0.1 * torch.randn(embed_dim, generator=g),
            "bn.running_mean": 0.1 * torch.randn(embed_dim, generator=g),
            "bn.running_var": 0.5 + torch.rand(embed_dim, generator=g),
            "bn.num_batches_tracked": torch.tensor(0),
            "conv_seg.weight": torch.randn(21, embed_dim, 1, 1, generator=g),
            "conv_seg.bias": torch.zeros(21),
        }
    elif task == "dpt":
        channels = 2 * n_layers * embed_dim
        sd = {"conv_depth.weight": 0.2 * torch.randn(256, channels, 1, 1, generator=g), "conv_depth.bias": 0.1 * torch.randn(256, generator=g)}
    else:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    return {"meta": {"note": "tiny random head"}, "state_dict": {f"decode_head.{k}": v for k, v in sd.items()}}


def write_hf_dir(sd: dict[str, torch.Tensor], out: PathLike, num_heads: int) -> Path:
    """An HF-format Dinov2 directory (config.json + model.safetensors) from original weights."""
    from safetensors.torch import save_file

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    embed_dim, _, patch, _ = sd["patch_embed.proj.weight"].shape
    depth = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("blocks."))
    swiglu = "blocks.0.mlp.w12.weight" in sd
    hidden = sd["blocks.0.mlp.w12.weight"].shape[0] // 2 if swiglu else sd["blocks.0.mlp.fc1.weight"].shape[0]
    grid = int(round((sd["pos_embed"].shape[1] - 1) ** 0.5))
    config = {
        "model_type": "dinov2", "architectures": ["Dinov2Model"], "hidden_size": int(embed_dim),
        "num_hidden_layers": depth, "num_attention_heads": num_heads, "patch_size": int(patch),
        "image_size": grid * int(patch), "use_swiglu_ffn": swiglu, "mlp_ratio": hidden / embed_dim if not swiglu else 4,
        "layer_norm_eps": 1e-6, "layerscale_value": 1.0, "qkv_bias": True, "hidden_act": "gelu",
    }
    (out / "config.json").write_text(json.dumps(config, indent=2))
    save_file({k: v.contiguous() for k, v in original_to_hf(sd).items()}, str(out / "model.safetensors"))
    return out


def _image(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A random picture: an overall colour plus smooth texture (upsampled noise). The colour
    varies per image so that the tiny model's predictions vary too; JPEG-friendly."""
    from PIL import Image

    small = rng.integers(0, 256, size=(max(2, h // 16), max(2, w // 16), 3), dtype=np.uint8)
    texture = np.asarray(Image.fromarray(small).resize((w, h), Image.BICUBIC)).astype(np.float32)
    tint = rng.integers(0, 256, size=3).astype(np.float32)
    return np.clip(0.3 * texture + 0.7 * tint, 0, 255).astype(np.uint8)


def _save(array: np.ndarray, path: Path, **kwargs: Any) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **kwargs)


def make_assets(
    root: PathLike,
    task: str = "cls",
    n_images: int = 8,
    seed: int = 0,
    embed_dim: int = 64,
    depth: int = 4,
    num_heads: int = 4,
    depth_size: tuple[int, int] = (120, 160),
) -> dict[str, Any]:
    """Write tiny checkpoints + a synthetic dataset for `task`; returns weights, data,
    sample_list paths and the machine options to pass to `get_machine`.

    dpt images are `depth_size` (default 120x160, 4x smaller than NYU's 480x640 to keep CPU
    runs short; the Eigen crop applies only to 480x640 frames, so pass (480, 640) to test it)."""
    from fcbench.machines.base import get_machine
    from fcbench.machines.dinov2.machine import Dinov2Cls, Dinov2Depth, Dinov2Seg

    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    root = Path(root)
    weights, data = root / "weights", root / "data"
    weights.mkdir(parents=True, exist_ok=True)
    torch.save(tiny_backbone_state_dict(embed_dim, depth, num_heads, seed), weights / BACKBONE_FILE)
    (weights / ARCH_FILE).write_text(json.dumps({"num_heads": num_heads}))  # the model's config, with its weights
    torch.save(tiny_head_state_dict(task, embed_dim, 4, seed), weights / HEAD_FILES[task])
    options = {"num_heads": num_heads}
    machine = get_machine("dinov2", task, weights=weights, device="cpu", progress=False, **options)
    rng = np.random.default_rng(seed)
    lines = []
    with torch.no_grad():
        for i in range(1, n_images + 1):
            if task == "cls":
                sample_id = f"ILSVRC2012_val_{i:08d}"
                sample = Sample(sample_id, data / f"{sample_id}.JPEG")
                _save(_image(rng, int(rng.integers(64, 97)), int(rng.integers(64, 97))), sample.image, quality=95)
                assert isinstance(machine, Dinov2Cls)
                feature, _ = machine.extract_one(sample)
                label = int(machine.logits(torch.from_numpy(feature)).argmax())
                lines.append(f"{sample_id} {label}")
            elif task == "seg":
                sample_id = f"2007_{i:06d}"
                sample = Sample(sample_id, data / "JPEGImages" / f"{sample_id}.jpg")
                h, w = (48, 72) if i % 2 else (64, 64)  # 2 and 1 sliding-window crops
                _save(_image(rng, h, w), sample.image, quality=95)
                assert isinstance(machine, Dinov2Seg)
                feature, _ = machine.extract_one(sample)
                mask = machine.logits(torch.from_numpy(feature), (h, w)).argmax(dim=1)[0].numpy().astype(np.uint8)
                mask[:, :2] = 255  # a VOC-style "void" band, ignored by the metric
                from PIL import Image

                png = Image.fromarray(mask)  # "L"; putpalette turns it into "P" keeping the indices
                png.putpalette([(c * 37) % 256 for c in range(768)])
                (data / "SegmentationClass").mkdir(parents=True, exist_ok=True)
                png.save(data / "SegmentationClass" / f"{sample_id}.png")
                lines.append(sample_id)
            else:
                scene = ("bathroom", "bedroom", "kitchen")[i % 3]
                rgb, dep = f"{scene}/rgb_{i:05d}.jpg", f"{scene}/sync_depth_{i:05d}.png"
                sample = Sample(f"{scene}_rgb_{i:05d}", data / rgb)
                _save(_image(rng, *depth_size), sample.image, quality=95)
                assert isinstance(machine, Dinov2Depth)
                feature, _ = machine.extract_one(sample)
                metres = machine.depth(torch.from_numpy(feature), depth_size).numpy()
                mm = np.round(metres * 1000).astype(np.uint16)
                mm[:4] = 0  # invalid pixels (no depth), excluded by the range mask
                _save(mm, data / dep)
                lines.append(f"{rgb} {dep} 518.8579")
    sample_list = root / f"tiny_{task}_list.txt"
    sample_list.write_text("\n".join(lines) + "\n")
    return {"weights": weights, "data": data, "sample_list": sample_list, "options": options}
