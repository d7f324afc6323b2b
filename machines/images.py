"""Image test-set loaders: the official sample lists over a local data folder.

Lists ship in the package (`fcbench.codecs/data/testsets/`); a custom list in the same format
can be given instead (synthetic or other data). Object-storage prefixes are staged to a local
folder by the components layer before a machine runs. A missing or unreadable sample is an
error naming it, never a silent skip.

Layouts (what `root` must hold):
- ImageNet val: `<id>.JPEG` anywhere under root (flat or in class folders);
  list lines `ILSVRC2012_val_XXXXXXXX <0-based label>`.
- VOC2012: `JPEGImages/<id>.jpg` + `SegmentationClass/<id>.png` (root may also be the folder
  above `VOC2012/` or `VOCdevkit/VOC2012/`); list lines `<id>`.
- NYUv2: the list's relative paths; lines `<rgb path> <depth path> <focal>`; depth PNG in mm.
- Training inputs: every image file under any folder (`folder_samples`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Optional

import numpy as np

from fcbench.codecs.common.names import check_name, check_relative_path
from fcbench.codecs.common.types import PathLike

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


class DataError(FileNotFoundError):
    """A test-set sample that is missing or unreadable."""


@dataclass
class Sample:
    id: str
    image: Path
    target: Optional[Path] = None  # mask / depth PNG
    label: Optional[int] = None  # class index
    meta: dict[str, Any] = field(default_factory=dict)


def list_lines(sample_list: PathLike) -> list[str]:
    """Non-empty lines of a list: a path, or the name of an official list in the package. A
    list without any line is an error (it would make an empty feature set)."""
    path = Path(sample_list)
    if path.is_file():
        text = path.read_text()
    else:
        ref = resources.files("fcbench.codecs").joinpath("data", "testsets", str(sample_list))
        if not ref.is_file():
            raise DataError(f"sample list {sample_list} is neither a file nor an official list")
        text = ref.read_text()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise DataError(f"sample list {sample_list} names no samples")
    return lines


def sample_id(value: str, where: str) -> str:
    """A sample id from a list or a file name: it becomes `<id>.npy` in a feature set, so it must
    be a safe file name (fcbench.codecs.common.names)."""
    return check_name(value, f"{where}: sample id", DataError)


def _limit(samples: list[Sample], limit: Optional[int]) -> list[Sample]:
    if limit is None:
        return samples
    if int(limit) < 1:
        raise DataError(f"limit must be >= 1, got {limit}")
    return samples[: int(limit)]


def imagenet_samples(root: PathLike, sample_list: PathLike = "imagenet_selected_label100.txt", limit: Optional[int] = None) -> list[Sample]:
    root = _root(root)
    index: dict[str, Path] = {}
    for p in sorted(root.rglob("*")):
        if p.suffix.lower() in IMAGE_EXTS:
            index.setdefault(p.stem, p)
    samples = []
    for n, line in enumerate(list_lines(sample_list), 1):
        parts = line.split()
        if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
            raise DataError(f"{sample_list} line {n}: expected '<image id> <label>', got {line!r}")
        sample_id(parts[0], f"{sample_list} line {n}")
        if parts[0] not in index:
            raise DataError(f"ImageNet sample {parts[0]} of the sample list {Path(str(sample_list)).name}: no image "
                            f"{parts[0]}.JPEG under {root} (images of another set: pass its list with --sample-list, "
                            "lines '<image id> <label>')")
        samples.append(Sample(parts[0], index[parts[0]], label=int(parts[1])))
    return _limit(samples, limit)


def voc_samples(root: PathLike, sample_list: PathLike = "val_20.txt", limit: Optional[int] = None) -> list[Sample]:
    root = _root(root)
    for candidate in (root, root / "VOC2012", root / "VOCdevkit" / "VOC2012"):
        if (candidate / "JPEGImages").is_dir():
            root = candidate
            break
    else:
        raise DataError(f"VOC2012 data: no JPEGImages/ folder under {root}")
    samples = []
    for n, line in enumerate(list_lines(sample_list), 1):
        sid = sample_id(line, f"{sample_list} line {n}")
        image, mask = root / "JPEGImages" / f"{sid}.jpg", root / "SegmentationClass" / f"{sid}.png"
        for path in (image, mask):
            if not path.is_file():
                raise DataError(f"VOC sample {sid}: {path} is missing")
        samples.append(Sample(sid, image, target=mask))
    return _limit(samples, limit)


def nyu_samples(root: PathLike, sample_list: PathLike = "nyu_test.txt", limit: Optional[int] = None) -> list[Sample]:
    root = _root(root)
    samples = []
    for n, line in enumerate(list_lines(sample_list), 1):
        parts = line.split()
        if len(parts) != 3:
            raise DataError(f"{sample_list} line {n}: expected '<rgb path> <depth path> <focal>', got {line!r}")
        where = f"{sample_list} line {n}"
        for rel in parts[:2]:  # paths inside the data folder, never outside it
            check_relative_path(rel, f"{where}: path", DataError)
        rgb, depth = root / parts[0], root / parts[1]
        # the reference names a sample <scene>_<file stem>
        sid = sample_id(f"{Path(parts[0]).parent.name}_{Path(parts[0]).stem}".lstrip("_"), where)
        for path in (rgb, depth):
            if not path.is_file():
                raise DataError(f"NYU sample {sid}: {path} is missing")
        samples.append(Sample(sid, rgb, target=depth, meta={"focal": float(parts[2])}))
    return _limit(samples, limit)


def folder_samples(root: PathLike, limit: Optional[int] = None) -> list[Sample]:
    """Every image under `root` (recursively, sorted) - training inputs; ids from relative paths."""
    root = _root(root)
    paths = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTS)
    if not paths:
        raise DataError(f"no images ({', '.join(IMAGE_EXTS)}) under {root}")
    samples, seen = [], set()
    for p in paths:
        rel = p.relative_to(root).with_suffix("")
        sid = "_".join(rel.parts).replace(" ", "_")
        sid = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in sid)
        sid = sample_id(sid, f"image {p}")
        if sid in seen:
            raise DataError(f"two images under {root} map to the same sample id {sid!r}")
        seen.add(sid)
        samples.append(Sample(sid, p))
    return _limit(samples, limit)


def _root(root: PathLike) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data folder {root} does not exist")
    return root


# ---- reading -------------------------------------------------------------------------------
def _open(path: Path, sample_id: str):
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(path)
        img.load()
        return img
    except (OSError, UnidentifiedImageError) as exc:
        raise DataError(f"sample {sample_id}: cannot read {path}: {exc}") from exc


def load_pil_rgb(sample: Sample):
    return _open(sample.image, sample.id).convert("RGB")


def load_rgb(sample: Sample) -> np.ndarray:
    """(H, W, 3) uint8 RGB."""
    return np.array(load_pil_rgb(sample), dtype=np.uint8)  # a writable copy (torch.from_numpy)


def load_mask(sample: Sample) -> np.ndarray:
    """(H, W) uint8 class indices of a palette PNG (255 = ignore)."""
    img = _open(_need_target(sample), sample.id)
    if img.mode not in ("P", "L"):
        raise DataError(f"sample {sample.id}: mask {sample.target} is mode {img.mode}, expected a palette/grey PNG of class indices")
    return np.asarray(img, dtype=np.uint8)


def load_depth(sample: Sample, scale: float = 1000.0) -> np.ndarray:
    """(H, W) float32 metres from a 16-bit PNG in millimetres."""
    img = _open(_need_target(sample), sample.id)
    depth = np.asarray(img)
    if depth.ndim != 2:
        raise DataError(f"sample {sample.id}: depth {sample.target} has shape {depth.shape}, expected one channel")
    return depth.astype(np.float32) / scale


def _need_target(sample: Sample) -> Path:
    if sample.target is None:
        raise DataError(f"sample {sample.id} has no ground-truth file")
    return sample.target
