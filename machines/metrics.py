"""Task metrics shared by machines: accuracy, pooled-confusion mIoU, per-image depth RMSE.

Each public metric returns a `Metric` that owns its name, direction and aggregation.
"""
from __future__ import annotations

from typing import Iterable, Optional, Sequence

import numpy as np

from fcbench.machines.base import Metric

EIGEN_CROP = (slice(45, 471), slice(41, 601))  # rows, cols of the 480x640 NYU frame


def accuracy(correct: Iterable[bool], name: str = "accuracy") -> Metric:
    """Percentage of true flags."""
    flags = np.asarray(list(correct), dtype=bool)
    if flags.size == 0:
        raise ValueError(f"{name}: no samples")
    return Metric(name, float(100.0 * flags.mean()), "higher", f"mean over {flags.size} samples", "%")


def top1(predictions: Sequence[int], labels: Sequence[int]) -> Metric:
    """Top-1 accuracy (%) of predicted class indices against labels."""
    if len(predictions) != len(labels):
        raise ValueError(f"top1: {len(predictions)} predictions for {len(labels)} labels")
    return accuracy((int(p) == int(label) for p, label in zip(predictions, labels)), name="top1")


def confusion_matrix(label: np.ndarray, pred: np.ndarray, num_classes: int, ignore_index: int = 255) -> np.ndarray:
    """(num_classes, num_classes) counts, rows = ground truth, cols = prediction; pixels whose
    label is `ignore_index` or outside [0, num_classes) are skipped."""
    label, pred = np.asarray(label), np.asarray(pred)
    if label.shape != pred.shape:
        raise ValueError(f"confusion matrix: label shape {label.shape} != prediction shape {pred.shape}")
    keep = (label != ignore_index) & (label >= 0) & (label < num_classes)
    p = pred[keep].astype(np.int64)
    if p.size and (p.min() < 0 or p.max() >= num_classes):
        raise ValueError(f"confusion matrix: predictions outside [0, {num_classes})")
    return np.bincount(num_classes * label[keep].astype(np.int64) + p, minlength=num_classes**2).reshape(num_classes, num_classes)


def iou_per_class(hist: np.ndarray) -> np.ndarray:
    """IoU per class; NaN for a class absent from both ground truth and prediction."""
    hist = np.asarray(hist, dtype=np.float64)
    union = hist.sum(0) + hist.sum(1) - np.diag(hist)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, np.diag(hist) / np.where(union > 0, union, 1), np.nan)


def miou(hist: np.ndarray) -> Metric:
    """mIoU (%) from ONE confusion matrix pooled over all images: nan-mean over classes."""
    iou = iou_per_class(hist)
    if np.all(np.isnan(iou)):
        raise ValueError("mIoU: the confusion matrix is empty (no labelled pixels)")
    return Metric("miou", float(100.0 * np.nanmean(iou)), "higher", "pooled confusion matrix, nan-mean over classes", "%")


def depth_rmse(pred: np.ndarray, gt: np.ndarray, min_depth: float = 1e-3, max_depth: float = 10.0, crop: Optional[tuple[slice, slice]] = EIGEN_CROP) -> float:
    """RMSE (m) of one image over valid pixels: GT in (min_depth, max_depth) inside `crop`."""
    pred, gt = np.asarray(pred, dtype=np.float64), np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape:
        raise ValueError(f"depth RMSE: prediction shape {pred.shape} != ground truth {gt.shape}")
    if not np.all(np.isfinite(pred)):
        raise ValueError("depth RMSE: prediction contains NaN or Inf")
    valid = (gt > min_depth) & (gt < max_depth)
    if crop is not None:
        window = np.zeros_like(valid)
        window[crop] = True
        valid &= window
    if not valid.any():
        raise ValueError("depth RMSE: no valid ground-truth pixels (range/crop)")
    return float(np.sqrt(np.mean((pred[valid] - gt[valid]) ** 2)))


def mean_rmse(per_image: Sequence[float]) -> Metric:
    """Mean over images of per-image RMSE (m)."""
    if not len(per_image):
        raise ValueError("rmse: no images")
    return Metric("rmse", float(np.mean(per_image)), "lower", f"mean of per-image RMSE over {len(per_image)} images", "m")
