"""Training data for learned codecs: packed, normalised frames and seeded random crops.

Frames are made exactly as the codec's shared chain makes them (truncate to the learned-path
range, min-max normalise to [0,1], pack with the task's layout), so a model trains on what it
will code. Crop positions are a pure function of (seed, epoch, index): the same crops come out
whatever the number of data-loader workers or their scheduling, and a resumed run repeats
nothing and skips nothing.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Iterator, Optional, Protocol, Sequence, Union

import numpy as np
import torch
from torch.utils.data import Dataset

from fcbench.codecs.chain import transforms
from fcbench.codecs.chain.packing import pack
from fcbench.codecs.features.featureset import FeatureSet, FeatureSetError

Range = Union[float, Sequence[float]]
_TRAIN_STREAM, _VAL_STREAM = 0, 1


def to_frame(x: np.ndarray, low: Range, high: Range, layout: str) -> np.ndarray:
    """(N, C, H, W) feature -> float32 packed frame in [0,1] (truncate, normalise, pack)."""
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"a feature must be an (N, C, H, W) tensor, got shape {x.shape}")
    t = transforms.truncate(x, low, high)
    return pack(transforms.normalize(t, low, high), layout).astype(np.float32, copy=False)


class Samples(Protocol):
    """What load_frames reads: a feature set, or chosen samples of one."""

    root: Path

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[tuple[str, np.ndarray]]: ...


def load_frames(fs: Samples, low: Range, high: Range, layout: str) -> list[np.ndarray]:
    if len(fs) == 0:
        raise FeatureSetError(f"feature set {fs.root} holds no samples")
    return [to_frame(x, low, high, layout) for _, x in fs]


def pad_to(frame: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Centre zero-pad a frame to at least rows x cols (as inference pads to multiples of 64)."""
    h, w = frame.shape
    ph, pw = max(0, rows - h), max(0, cols - w)
    if not ph and not pw:
        return frame
    return np.pad(frame, ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2)))


def _crop(frame: np.ndarray, crop: tuple[int, int], rng: np.random.Generator) -> torch.Tensor:
    ch, cw = crop
    h, w = frame.shape
    top = int(rng.integers(0, h - ch + 1))
    left = int(rng.integers(0, w - cw + 1))
    return torch.from_numpy(np.ascontiguousarray(frame[top : top + ch, left : left + cw]))[None]


class CropDataset(Dataset):
    """Random crops of frames. Training: `length` crops per epoch (frame i % n, position drawn
    from seed/epoch/index). Validation (train=False): fixed crops, the same every epoch, or
    (`redraw`) drawn from seed/epoch/index like the reference's validation crops."""

    def __init__(self, frames: Sequence[np.ndarray], crop: tuple[int, int], seed: int, length: Optional[int] = None,
                 train: bool = True, redraw: bool = False):
        ch, cw = (int(crop[0]), int(crop[1]))
        if ch < 1 or cw < 1:
            raise ValueError(f"crop must be positive (rows, cols), got {crop}")
        if not frames:
            raise ValueError("no frames to crop")
        # Frames smaller than the crop are centre zero-padded (the inference padding) - see docs.
        self.frames = [pad_to(np.asarray(f, dtype=np.float32), ch, cw) for f in frames]
        self.crop = (ch, cw)
        self.seed = int(seed)
        self.length = int(length) if length else len(self.frames)
        self.train = train
        self.redraw = redraw  # validation crops drawn anew each epoch (the reference's), still seeded
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> torch.Tensor:
        if self.train:
            key = [self.seed, _TRAIN_STREAM, self.epoch, index]
        else:
            key = [self.seed, _VAL_STREAM, self.epoch, index] if self.redraw else [self.seed, _VAL_STREAM, index]
        return _crop(self.frames[index % len(self.frames)], self.crop, np.random.default_rng(key))


def seed_worker(worker_id: int) -> None:
    """DataLoader worker_init_fn: seed numpy/random per worker from torch's per-worker seed
    (crops do not depend on it, but any library randomness then is reproducible too)."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


# ---- train/validation feature sets ----------------------------------------------------------
def split_ids(ids: Sequence[str], val_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Seeded split of sample ids -> (train, val); at least one of each."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    if len(ids) < 2:
        raise ValueError(f"need at least 2 samples to split into train and validation, got {len(ids)}")
    order = list(ids)
    np.random.default_rng([int(seed), 7]).shuffle(order)
    n_val = min(len(order) - 1, max(1, round(len(order) * val_fraction)))
    val = set(order[:n_val])
    return [i for i in ids if i not in val], [i for i in ids if i in val]


def _copy(src: FeatureSet, ids: Sequence[str], out: Union[str, Path], split: str, seed: int) -> FeatureSet:
    meta = {k: v for k, v in src.meta.items() if k not in ("format", "model", "task", "split_point")}
    meta.update(split=split, source=str(src.root), split_seed=int(seed))
    dst = FeatureSet.create(out, src.meta.get("model", "unknown"), src.meta.get("task", "unknown"),
                            src.meta.get("split_point", "unknown"), resume=True, **meta)
    with dst:
        for sample_id in ids:
            info = src.info(sample_id)
            if sample_id in dst and dst.info(sample_id).sha256 == info.sha256:
                continue  # resumed: already copied intact
            dst.write(sample_id, src.read(sample_id), origin_dtype=info.origin_dtype, **info.extra)
    return dst


def build_training_sets(features_dir: Union[str, Path], out_train: Union[str, Path], out_val: Union[str, Path],
                        val_fraction: float = 0.1, seed: int = 0) -> tuple[FeatureSet, FeatureSet]:
    """Split one extracted feature set into train and validation feature sets (seeded)."""
    src = FeatureSet.open(features_dir)
    train_ids, val_ids = split_ids(src.ids, val_fraction, seed)
    return _copy(src, train_ids, out_train, "train", seed), _copy(src, val_ids, out_val, "val", seed)


class Extractor(Protocol):
    def extract(self, data: Union[str, Path], out: Union[str, Path], **options: Any) -> FeatureSet: ...


def sample_training_sets(machine: Extractor, data: Union[str, Path], out_dir: Union[str, Path],
                         val_fraction: float = 0.1, seed: int = 0, **extract_options: Any) -> tuple[FeatureSet, FeatureSet]:
    """Extract features of a machine's TRAINING inputs under `data` (not the test samples) and
    split them -> (out_dir/train, out_dir/val). Any fcbench.machines Machine fits."""
    out_dir = Path(out_dir)
    machine.extract(data, out_dir / "all", **extract_options)
    return build_training_sets(out_dir / "all", out_dir / "train", out_dir / "val", val_fraction, seed)
