"""FID and CLIP score for text-to-image (docs/test-conditions.md, tti), on torchmetrics, from
local weights only (never a download).

FID as the reference computes it: the generated images are uint8 (as a PNG holds them), each is
resized to 299x299 with PIL's bicubic filter (antialiased), and only then goes to torchmetrics'
FrechetInceptionDistance (`fid_preprocess`). Left to itself, torch-fidelity's Inception resizes
the 1024x1024 images bilinearly without antialiasing, and every FID shifts. The feature
extractor is the 2048-d pool feature of torch-fidelity's Inception-v3, loaded from a local
`pt_inception-2015-12-05-*.pth`; any nn.Module mapping uint8 images (N, 3, H, W) to (N, D)
features also works (tests use a tiny one).
CLIP score: torchmetrics' CLIPScore (100 * cosine, floored at 0) with a CLIP model and
processor loaded from a local transformers folder (the reference: ViT-B/16).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence, Union

import numpy as np
import torch
from torch import nn

Source = Union[str, Path, nn.Module, None]
TINY_SUFFIX = ".tiny-features.pt"


def load_inception(source: Source) -> nn.Module:
    """The FID feature extractor: a module, or a local torch-fidelity Inception-v3 weights file."""
    if isinstance(source, nn.Module):
        return source.eval()
    if source is None:
        raise ValueError("FID needs inception= : a local Inception-v3 weights file (pt_inception-2015-12-05) or a module; fcbench never downloads it")
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"Inception weights file {path} does not exist")
    if path.name.endswith(TINY_SUFFIX):  # the stand-in extractor of tiny test pipelines
        state = torch.load(path, map_location="cpu", weights_only=True)
        module = TinyImageFeatures(num_features=int(state["conv.bias"].shape[0]))
        module.load_state_dict(state)
        return module.eval()
    from torchmetrics.image.fid import NoTrainInceptionV3

    return NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"], feature_extractor_weights_path=str(path)).eval()


class TinyImageFeatures(nn.Module):
    """A small fixed random feature extractor for tests and tiny pipelines: uint8 images ->
    `num_features`-d features (conv, tanh, global average pool). Not a perceptual metric."""

    def __init__(self, num_features: int = 8, seed: int = 0):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.num_features = num_features
        self.conv = nn.Conv2d(3, num_features, 3, stride=2)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=gen) * 0.3)
            self.conv.bias.copy_(torch.randn(self.conv.bias.shape, generator=gen) * 0.1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = torch.tanh(self.conv(images.float() / 255.0))  # tanh: no dead units, full-rank features
        return x.mean(dim=(2, 3))


FID_SIZE = 299  # Inception-v3's input


def fid_preprocess(images: torch.Tensor, size: int = FID_SIZE) -> torch.Tensor:
    """uint8 (N, 3, H, W) -> uint8 (N, 3, size, size), each image resized with PIL bicubic
    (antialiased when shrinking), as the reference prepares images for FID."""
    from PIL import Image

    check_images(images)
    arrays = images.permute(0, 2, 3, 1).cpu().numpy()
    out = [np.asarray(Image.fromarray(a).resize((size, size), Image.Resampling.BICUBIC)) for a in arrays]
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).contiguous()


class FID:
    """Streaming FID: feed image batches of the two sets, then `value()`. resize=True (the
    reference) resizes every image with `fid_preprocess` first. `reset_generated()` forgets the
    reconstructed set and keeps the original one, so one FID serves every rate point of a run
    (the original images' Inception statistics are computed once)."""

    def __init__(self, feature: Source, resize: bool = True):
        from torchmetrics.image.fid import FrechetInceptionDistance

        self.metric = FrechetInceptionDistance(feature=load_inception(feature), normalize=False,
                                               reset_real_features=False)
        self.resize = resize

    def reset_generated(self) -> None:
        self.metric.reset()  # reset_real_features=False: the original set's statistics stay

    def update(self, images: torch.Tensor, real: bool) -> None:
        check_images(images)
        self.metric.update(fid_preprocess(images) if self.resize else images, real=real)

    def value(self) -> float:
        n_real = int(self.metric.real_features_num_samples)
        n_fake = int(self.metric.fake_features_num_samples)
        if n_real < 2 or n_fake < 2:
            raise ValueError(f"FID needs at least 2 images per set, got {n_real} original and {n_fake} reconstructed")
        # FID >= 0; identical sets give about -1e-12 from the matrix square root's rounding.
        return max(0.0, float(self.metric.compute()))


def check_images(images: torch.Tensor) -> None:
    """uint8 (N, 3, H, W): what a saved PNG holds and what torch-fidelity's Inception expects."""
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected uint8 images (N, 3, H, W), got {images.dtype} {tuple(images.shape)}")


def load_clip(source: Union[str, Path, tuple, None]) -> tuple[Any, Any]:
    """(CLIPModel, CLIPProcessor) from a local folder, or a ready (model, processor) pair."""
    if isinstance(source, tuple):
        model, processor = source
        return model.eval(), processor
    if source is None:
        raise ValueError("CLIP score needs clip= : a local CLIP model folder (transformers format)")
    path = Path(source)
    if not path.is_dir():
        raise FileNotFoundError(f"CLIP model folder {path} does not exist")
    from transformers import CLIPModel, CLIPProcessor

    return CLIPModel.from_pretrained(path).eval(), CLIPProcessor.from_pretrained(path)


class _ClipEmbeddings(nn.Module):
    """transformers 5 returns model outputs from CLIPModel.get_*_features, torchmetrics
    expects the projected embedding tensors: hand it those (`pooler_output`)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.config = model.config

    @staticmethod
    def _tensor(out: Any) -> torch.Tensor:
        return out if isinstance(out, torch.Tensor) else out.pooler_output

    def get_image_features(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        return self._tensor(self.model.get_image_features(*args, **kwargs))

    def get_text_features(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        return self._tensor(self.model.get_text_features(*args, **kwargs))


class ClipScore:
    """CLIP score of images vs captions: per pair and over the whole set (torchmetrics)."""

    def __init__(self, source: Union[str, Path, tuple]):
        from torchmetrics.multimodal.clip_score import CLIPScore

        model, processor = load_clip(source)
        pair = (_ClipEmbeddings(model), processor)
        def loader() -> tuple[Any, Any]:
            return pair
        self.total = CLIPScore(model_name_or_path=loader)
        self.single = CLIPScore(model_name_or_path=loader)

    @torch.no_grad()
    def update(self, images: torch.Tensor, captions: Sequence[str]) -> list[float]:
        """Add a batch; returns the score of each (image, caption) pair."""
        check_images(images)
        if len(captions) != images.shape[0]:
            raise ValueError(f"{images.shape[0]} images but {len(captions)} captions")
        self.total.update(list(images), list(captions))
        scores = []
        for image, caption in zip(images, captions):
            self.single.reset()
            self.single.update([image], [caption])
            scores.append(float(self.single.compute()))
        return scores

    def value(self) -> float:
        return float(self.total.compute())
