"""DINOv2 machines for cls, seg and dpt: extract block outputs, evaluate from a feature set.

`get_machine("dinov2", task, weights=DIR, **options)`; options: backbone= / head= (explicit
files, override `weights`), num_heads, device ("auto" = GPU if present), batch_size (images per
forward for cls, crops/views per forward for seg), blocks (0-based split block(s)), sample_list
(a custom list file), limit, source ("test": the task's official list layout; "folder": every
image under `data`, for training features), interpolate_offset, progress.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, ClassVar, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F

from fcbench.codecs.common.types import PathLike
from fcbench.codecs.features.featureset import FeatureSet, FeatureSetError
from fcbench.machines import images as imgs
from fcbench.machines import metrics
from fcbench.machines.base import Evaluation, Machine, Metric, feature_mse, register_machine
from fcbench.machines.dinov2 import preprocess as pre
from fcbench.machines.dinov2.backbone import Backbone
from fcbench.machines.dinov2.checkpoints import HEAD_FILES, load_backbone, load_head
from fcbench.machines.dinov2.heads import DepthLinearHead, LinearClsHead, SegBNHead
from fcbench.machines.weights import resolve, sha256_file

MODEL = "dinov2"


def resolve_device(device: Optional[str]) -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def depth_blocks(depth: int, n: int = 4) -> list[int]:
    """Evenly spaced 0-based blocks ending at the last: ViT-g (40) -> 9,19,29,39; 4 -> 0,1,2,3."""
    return [round(depth * (i + 1) / n) - 1 for i in range(n)]


class Dinov2Machine(Machine):
    model: ClassVar[str] = MODEL
    task: ClassVar[str]
    default_list: ClassVar[str]
    default_batch: ClassVar[int] = 8

    def __init__(
        self,
        weights: Optional[PathLike] = None,
        backbone: Optional[PathLike] = None,
        head: Optional[PathLike] = None,
        num_heads: Optional[int] = None,
        device: Optional[str] = "auto",
        batch_size: Optional[int] = None,
        blocks: Union[int, str, Sequence[int], None] = None,
        sample_list: Optional[PathLike] = None,
        limit: Optional[int] = None,
        source: str = "test",
        interpolate_offset: float = 0.1,
        progress: Optional[bool] = None,
    ):
        location = backbone or weights
        if location is None:
            raise ValueError(f"dinov2/{self.task}: give weights= (a folder with the official files or an HF directory) or backbone=")
        self._backbone_loc = resolve(location, "DINOv2 backbone weights")  # fail early on a bad path
        self._head_loc = head or weights
        self.num_heads = int(num_heads) if num_heads else None
        self.device = resolve_device(device)
        self.batch_size = int(batch_size or self.default_batch)
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self._blocks_opt = blocks
        self.sample_list, self.limit, self.source = sample_list, limit, source
        self.interpolate_offset = float(interpolate_offset)
        self.progress = progress

    # ---- lazily loaded parts --------------------------------------------------------------
    @functools.cached_property
    def _source(self):
        return load_backbone(self._backbone_loc)

    @functools.cached_property
    def backbone(self) -> Backbone:
        src = self._source
        bb = Backbone.from_state_dict(src.state_dict, num_heads=self.num_heads or src.num_heads, interpolate_offset=self.interpolate_offset)
        src.state_dict = {}  # the weights now live in the module; don't keep a second copy
        return bb.to(self.device).eval().requires_grad_(False)

    @functools.cached_property
    def _head_file(self) -> tuple[dict, Path]:
        if self._head_loc is None:
            raise ValueError(f"dinov2/{self.task}: no head weights: give weights= (folder with {HEAD_FILES[self.task]}) or head=")
        return load_head(self._head_loc, self.task)

    @functools.cached_property
    def head(self) -> torch.nn.Module:
        return self.build_head(self._head_file[0]).to(self.device).eval().requires_grad_(False)

    def build_head(self, sd: dict) -> torch.nn.Module:
        raise NotImplementedError

    @functools.cached_property
    def blocks(self) -> list[int]:
        """0-based split block(s)."""
        opt = self._blocks_opt
        if opt is None:
            return self.default_blocks()
        if isinstance(opt, str):
            opt = [int(b) for b in opt.replace("/", ",").split(",") if b.strip()]
        opt = [opt] if isinstance(opt, int) else list(opt)
        return [self.backbone.index(int(b)) for b in opt]

    def default_blocks(self) -> list[int]:
        return [self.backbone.depth - 1]

    def split_point(self) -> str:
        raise NotImplementedError

    # ---- data ---------------------------------------------------------------------------
    def samples(self, data: PathLike, sample_list: Optional[PathLike] = None, limit: Optional[int] = None, source: Optional[str] = None) -> list[imgs.Sample]:
        source = source or self.source
        limit = self.limit if limit is None else limit
        if source == "folder":
            return imgs.folder_samples(data, limit)
        if source != "test":
            raise ValueError(f"source must be 'test' or 'folder', got {source!r}")
        return self.test_samples(data, sample_list or self.sample_list or self.default_list, limit)

    def test_samples(self, data: PathLike, sample_list: PathLike, limit: Optional[int]) -> list[imgs.Sample]:
        raise NotImplementedError

    # ---- extraction ---------------------------------------------------------------------
    def extract(self, data: PathLike, out: PathLike, **options: Any) -> FeatureSet:
        """Write the split-point features of every sample to the feature set `out`; samples
        already there are skipped (resume). Options: sample_list, limit, source, progress."""
        from tqdm.auto import tqdm

        samples = self.samples(data, options.get("sample_list"), options.get("limit"), options.get("source"))
        sha = sha256_file(self._source.path)
        out = Path(out)
        if (out / "manifest.json").is_file():
            old = FeatureSet.open(out).meta.get("checkpoint_sha256")
            if old and old != sha:
                raise FeatureSetError(f"{out} holds features of another checkpoint (sha256 {old[:12]}...), not {sha[:12]}...")
        fs = FeatureSet.create(
            out, MODEL, self.task, self.split_point(),
            checkpoint=self._source.path.name, checkpoint_sha256=sha,
            blocks=self.blocks, depth=self.backbone.depth, embed_dim=self.backbone.embed_dim,
            source=options.get("source") or self.source, preprocessing=self.preprocessing,
            extracted_by=self.architecture(),
        )
        todo = [s for s in samples if s.id not in fs]
        progress = options.get("progress", self.progress)
        with fs, torch.no_grad():
            for sample in tqdm(todo, desc=f"extract dinov2/{self.task}", disable=None if progress is None else not progress):
                feature, extra = self.extract_one(sample)
                fs.write(sample.id, feature, **extra)
        return fs

    preprocessing: ClassVar[str] = ""

    def architecture(self) -> dict:
        """What the second half must match: recorded in a feature set (`extracted_by`, carried
        into every reconstruction of it) and checked by evaluate."""
        bb = self.backbone
        return {"embed_dim": bb.embed_dim, "depth": bb.depth, "num_heads": bb.num_heads,
                "checkpoint_sha256": sha256_file(self._source.path)}

    def check_extracted_by(self, fs: FeatureSet) -> None:
        recorded = fs.meta.get("extracted_by")
        if not isinstance(recorded, dict):
            return  # a set from before this was recorded, or from elsewhere: nothing to compare
        mine = self.architecture()
        differ = [f"{k} {recorded[k]} (features) vs {mine[k]} (this model)" for k in mine
                  if k in recorded and recorded[k] != mine[k]]
        if differ:
            raise FeatureSetError(f"{fs.root} was extracted by another dinov2 model: {'; '.join(differ)} (pass the "
                                  "weights, and num_heads where they are not beside them, that made the features)")

    def extract_one(self, sample: imgs.Sample) -> tuple[np.ndarray, dict]:
        raise NotImplementedError

    def _run(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Block outputs for a batch, `batch_size` at a time."""
        parts = [self.backbone.block_outputs(chunk.to(self.device), self.blocks) for chunk in x.split(self.batch_size)]
        return [torch.cat([p[i] for p in parts]) for i in range(len(self.blocks))]

    def tail(self, x: torch.Tensor) -> torch.Tensor:
        """From the (single) split block's output to the final-normed tokens."""
        for blk in self.backbone.blocks[self.blocks[0] + 1 :]:
            x = blk(x)
        return self.backbone.norm(x)

    # ---- evaluation ---------------------------------------------------------------------
    def evaluate(self, features: Union[PathLike, FeatureSet], data: PathLike,
                 reference: Union[PathLike, FeatureSet, None] = None, **options: Any) -> Evaluation:
        """Run the second half on every sample of `features`; task metric vs ground truth under
        `data`, plus feature MSE against `reference` when given."""
        from tqdm.auto import tqdm

        fs = features if isinstance(features, FeatureSet) else FeatureSet.open(features)
        if (fs.meta.get("model"), fs.meta.get("task")) != (MODEL, self.task):
            raise FeatureSetError(f"{fs.root} holds {fs.meta.get('model')}/{fs.meta.get('task')} features, not {MODEL}/{self.task}")
        if len(fs) == 0:
            raise FeatureSetError(f"{fs.root} holds no samples")
        self.check_extracted_by(fs)
        # the whole list (no `limit`): the set decides which samples are evaluated
        known = {s.id: s for s in self.test_samples(data, options.get("sample_list") or self.sample_list or self.default_list, None)}
        unknown = [i for i in fs.ids if i not in known]
        if unknown:
            raise FeatureSetError(f"samples {unknown[:3]} of {fs.root} are not in the {self.task} sample list")
        state = self.new_state()
        per_sample = []
        progress = options.get("progress", self.progress)
        with torch.no_grad():
            for sample_id in tqdm(fs.ids, desc=f"evaluate dinov2/{self.task}", disable=None if progress is None else not progress):
                feature = torch.from_numpy(np.asarray(fs.read(sample_id), dtype=np.float32)).to(self.device)
                per_sample.append({"id": sample_id, **self.evaluate_one(feature, known[sample_id], state, fs.info(sample_id).extra)})
        ref = None
        if reference is not None:
            ref = feature_mse(fs, reference if isinstance(reference, FeatureSet) else FeatureSet.open(reference))
        return Evaluation(self.finish(state, per_sample), per_sample, ref)

    def new_state(self) -> dict:
        return {}

    def evaluate_one(self, feature: torch.Tensor, sample: imgs.Sample, state: dict, extra: dict) -> dict:
        raise NotImplementedError

    def finish(self, state: dict, per_sample: list[dict]) -> list[Metric]:
        raise NotImplementedError

    def _check_shape(self, feature: torch.Tensor, shape: tuple[int, ...], sample: imgs.Sample) -> None:
        if tuple(feature.shape) != tuple(shape):
            raise ValueError(f"sample {sample.id}: feature shape {tuple(feature.shape)} != expected {tuple(shape)}")


@register_machine(MODEL, "cls")
class Dinov2Cls(Dinov2Machine):
    task = "cls"
    default_list = "imagenet_selected_label100.txt"
    preprocessing = "Resize(256) CenterCrop(224) ImageNet mean/std"

    def build_head(self, sd: dict) -> torch.nn.Module:
        return LinearClsHead.from_state_dict(sd, self.backbone.embed_dim)

    def split_point(self) -> str:
        return f"block {self.blocks[0] + 1} of {self.backbone.depth} (pre-norm), all tokens"

    def test_samples(self, data, sample_list, limit):
        return imgs.imagenet_samples(data, sample_list, limit)

    def extract_one(self, sample):
        x = pre.cls_input(imgs.load_pil_rgb(sample))[None]
        return self._run(x)[0].cpu().numpy()[None], {}

    def logits(self, feature: torch.Tensor) -> torch.Tensor:
        """Split-point feature (1, 1, T, D) -> class logits (1, classes)."""
        return self.head(self.tail(feature[0]))

    def evaluate_one(self, feature, sample, state, extra):
        t = 1 + (224 // self.backbone.patch_size) ** 2
        self._check_shape(feature, (1, 1, t, self.backbone.embed_dim), sample)
        pred = int(self.logits(feature).argmax(dim=-1).item())
        return {"label": sample.label, "prediction": pred, "correct": pred == sample.label}

    def finish(self, state, per_sample):
        return [metrics.top1([p["prediction"] for p in per_sample], [p["label"] for p in per_sample])]


@register_machine(MODEL, "seg")
class Dinov2Seg(Dinov2Machine):
    task = "seg"
    default_list = "val_20.txt"
    default_batch = 4
    preprocessing = "short side 512 (long <= 2048), mmseg mean/std, 512x512 windows stride 341 padded to 518"

    def build_head(self, sd: dict) -> torch.nn.Module:
        return SegBNHead.from_state_dict(sd, self.backbone.embed_dim)

    def split_point(self) -> str:
        return f"block {self.blocks[0] + 1} of {self.backbone.depth} (pre-norm) per 512x512 sliding-window crop (stride 341, padded to 518)"

    def test_samples(self, data, sample_list, limit):
        return imgs.voc_samples(data, sample_list, limit)

    def extract_one(self, sample):
        rgb = imgs.load_rgb(sample)
        resized = pre.seg_resize(rgb)
        x = pre.normalize_255(resized)
        crops = torch.stack([x[:, y1:y2, x1:x2] for y1, y2, x1, x2 in pre.slide_windows(*resized.shape[:2])])
        feature = self._run(pre.center_pad(crops, self.backbone.patch_size))[0]
        return feature.cpu().numpy()[:, None], {"image_hw": list(rgb.shape[:2]), "resized_hw": list(resized.shape[:2])}

    def logits(self, feature: torch.Tensor, image_hw: tuple[int, int]) -> torch.Tensor:
        """Feature (n_crops, 1, T, D) of an image of `image_hw` -> logits (1, classes, H, W)."""
        rh, rw = pre.seg_size(*image_hw)
        boxes = pre.slide_windows(rh, rw)
        gh, gw = pre.patch_grid(pre.SEG_CROP, pre.SEG_CROP, self.backbone.patch_size)
        if feature.shape[0] != len(boxes) or feature.shape[2] != 1 + gh * gw:
            raise ValueError(f"feature shape {tuple(feature.shape)} does not fit a {image_hw[0]}x{image_hw[1]} image "
                             f"({len(boxes)} crops of {1 + gh * gw} tokens)")
        classes = self.head.conv_seg.out_channels
        preds = torch.zeros(1, classes, rh, rw, device=feature.device)
        count = torch.zeros(1, 1, rh, rw, device=feature.device)
        for crop, (y1, y2, x1, x2) in zip(feature[:, 0], boxes):
            tokens = self.tail(crop[None])[:, 1:]
            patch_map = tokens.reshape(1, gh, gw, -1).permute(0, 3, 1, 2)
            out = F.interpolate(self.head(patch_map), size=(y2 - y1, x2 - x1), mode="bilinear", align_corners=False)
            preds[:, :, y1:y2, x1:x2] += out
            count[:, :, y1:y2, x1:x2] += 1
        return F.interpolate(preds / count, size=tuple(image_hw), mode="bilinear", align_corners=False)

    def new_state(self):
        return {"hist": None}

    def evaluate_one(self, feature, sample, state, extra):
        mask = imgs.load_mask(sample)
        if extra.get("image_hw") and list(extra["image_hw"]) != list(mask.shape):
            raise ValueError(f"sample {sample.id}: mask {mask.shape} != image size {extra['image_hw']} recorded at extraction")
        pred = self.logits(feature, mask.shape).argmax(dim=1)[0].cpu().numpy()
        classes = self.head.conv_seg.out_channels
        hist = metrics.confusion_matrix(mask, pred, classes)
        state["hist"] = hist if state["hist"] is None else state["hist"] + hist
        iou = metrics.iou_per_class(hist)
        return {"n_crops": int(feature.shape[0]), "image_miou": float(100 * np.nanmean(iou)) if not np.all(np.isnan(iou)) else None}

    def finish(self, state, per_sample):
        return [metrics.miou(state["hist"])]


@register_machine(MODEL, "dpt")
class Dinov2Depth(Dinov2Machine):
    task = "dpt"
    default_list = "nyu_test.txt"
    default_batch = 2
    min_depth, max_depth = 0.001, 10.0
    preprocessing = "native size, mmseg mean/std, centre-padded to a multiple of 14; + horizontal flip"

    def build_head(self, sd: dict) -> torch.nn.Module:
        return DepthLinearHead.from_state_dict(sd, self.backbone.embed_dim, len(self.blocks), min_depth=self.min_depth, max_depth=self.max_depth)

    def default_blocks(self) -> list[int]:
        return depth_blocks(self.backbone.depth)

    def split_point(self) -> str:
        names = "/".join(str(b + 1) for b in self.blocks)
        return f"blocks {names} of {self.backbone.depth} (pre-norm, CLS kept), image + horizontal flip"

    def test_samples(self, data, sample_list, limit):
        return imgs.nyu_samples(data, sample_list, limit)

    def extract_one(self, sample):
        x = pre.normalize_255(imgs.load_rgb(sample))
        views = pre.center_pad(torch.stack([x, x.flip(-1)]), self.backbone.patch_size)
        outs = self._run(views)  # per block: (2, T, D)
        return torch.stack(outs, dim=1).cpu().numpy(), {"image_hw": list(x.shape[1:])}

    def depth(self, feature: torch.Tensor, image_hw: tuple[int, int]) -> torch.Tensor:
        """Feature (2, layers, T, D) -> flip-averaged depth (H, W) in metres."""
        gh, gw = pre.patch_grid(*image_hw, self.backbone.patch_size)
        if feature.shape[0] != 2 or feature.shape[1] != len(self.blocks) or feature.shape[2] != 1 + gh * gw:
            raise ValueError(f"feature shape {tuple(feature.shape)} does not fit a {image_hw[0]}x{image_hw[1]} image "
                             f"(2 views x {len(self.blocks)} layers x {1 + gh * gw} tokens)")
        views = []
        for n in range(2):
            layers = [(f[1:].T.reshape(1, -1, gh, gw), f[:1]) for f in feature[n]]
            d = self.head(layers).clamp(self.min_depth, self.max_depth)
            d = F.interpolate(d, size=tuple(image_hw), mode="bilinear", align_corners=False)
            views.append(d.flip(-1) if n == 1 else d)
        return ((views[0] + views[1]) / 2)[0, 0]

    def evaluate_one(self, feature, sample, state, extra):
        gt = imgs.load_depth(sample)
        pred = self.depth(feature, gt.shape).cpu().numpy()
        crop = metrics.EIGEN_CROP if gt.shape == (480, 640) else None
        return {"rmse": metrics.depth_rmse(pred, gt, self.min_depth, self.max_depth, crop), "eigen_crop": crop is not None}

    def finish(self, state, per_sample):
        return [metrics.mean_rmse([p["rmse"] for p in per_sample])]
