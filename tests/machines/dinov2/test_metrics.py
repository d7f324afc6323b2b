"""Metrics against hand-computed values."""
from __future__ import annotations

import math

import numpy as np
import pytest

from fcbench.machines import metrics


def test_top1_and_accuracy():
    m = metrics.top1([1, 2, 3, 4], [1, 2, 0, 4])
    assert (m.name, m.value, m.direction, m.unit) == ("top1", 75.0, "higher", "%")
    with pytest.raises(ValueError, match="3 predictions for 2 labels"):
        metrics.top1([1, 2, 3], [1, 2])
    assert metrics.accuracy([True, False], name="accuracy").value == 50.0


def test_pooled_miou_with_ignored_and_absent_classes():
    # 4 classes; class 3 never appears in labels nor predictions -> NaN, left out of the mean
    label_a = np.array([[0, 0, 1], [1, 255, 2]])
    pred_a = np.array([[0, 1, 1], [1, 3 - 3, 2]])  # the 255 pixel's prediction is ignored
    label_b = np.array([[2, 2], [0, 255]])
    pred_b = np.array([[2, 0], [0, 1]])
    hist = metrics.confusion_matrix(label_a, pred_a, 4) + metrics.confusion_matrix(label_b, pred_b, 4)
    # pooled counts: class0: tp=2 (a00, b10), fp=1 (b01), fn=1 (a01) -> 2/4
    # class1: tp=2, fp=1 (a01), fn=0 -> 2/3 ; class2: tp=2 (a12, b00), fp=0, fn=1 (b01) -> 2/3
    iou = metrics.iou_per_class(hist)
    assert np.allclose(iou[:3], [0.5, 2 / 3, 2 / 3]) and math.isnan(iou[3])
    m = metrics.miou(hist)
    assert m.name == "miou" and m.direction == "higher"
    assert m.value == pytest.approx(100 * (0.5 + 2 / 3 + 2 / 3) / 3)


def test_pooling_differs_from_averaging_per_image():
    # A: 4 pixels of class 0, all right (per-image mIoU 100). B: 1 pixel of class 1 called 0
    # (per-image mIoU 0). Pooled: class 0 = 4/5, class 1 = 0/1 -> 40 %, not the mean 50 %.
    hist = metrics.confusion_matrix(np.zeros((2, 2)), np.zeros((2, 2)), 2) + metrics.confusion_matrix(np.ones((1, 1)), np.zeros((1, 1)), 2)
    assert metrics.miou(hist).value == pytest.approx(40.0)


def test_confusion_matrix_errors():
    with pytest.raises(ValueError, match="label shape"):
        metrics.confusion_matrix(np.zeros((2, 2)), np.zeros((2, 3)), 3)
    with pytest.raises(ValueError, match="outside"):
        metrics.confusion_matrix(np.zeros((1, 1)), np.full((1, 1), 5), 3)
    with pytest.raises(ValueError, match="empty"):
        metrics.miou(np.zeros((3, 3)))


def test_depth_rmse_with_eigen_crop_and_range():
    gt = np.full((480, 640), 2.0)
    pred = np.full((480, 640), 2.0)
    pred[45:471, 41:601] = 3.0  # inside the crop: error 1
    pred[0:45] = 100.0  # outside the crop: ignored
    gt[100, 100] = 0.0005  # below min depth: ignored
    pred[100, 100] = 50.0
    gt[200, 200] = 10.0  # max depth is exclusive
    pred[200, 200] = 50.0
    assert metrics.depth_rmse(pred, gt) == pytest.approx(1.0)
    # without the crop the top band counts
    n_crop = 426 * 560 - 2
    n_top = 45 * 640
    n_all = 480 * 640 - 2
    want = math.sqrt((n_crop * 1.0 + n_top * 98.0**2) / n_all)
    assert metrics.depth_rmse(pred, gt, crop=None) == pytest.approx(want)
    m = metrics.mean_rmse([1.0, 2.0, 4.5])
    assert (m.name, m.value, m.direction, m.unit) == ("rmse", 2.5, "lower", "m")


def test_depth_rmse_errors():
    with pytest.raises(ValueError, match="shape"):
        metrics.depth_rmse(np.zeros((2, 2)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="NaN"):
        metrics.depth_rmse(np.full((2, 2), np.nan), np.ones((2, 2)), crop=None)
    with pytest.raises(ValueError, match="no valid"):
        metrics.depth_rmse(np.ones((2, 2)), np.zeros((2, 2)), crop=None)
