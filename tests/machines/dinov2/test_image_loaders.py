"""Test-set loaders: official lists from the package, official layouts, clear errors."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from fcbench.machines import images


def test_official_lists_ship_in_the_package():
    assert len(images.list_lines("imagenet_selected_label100.txt")) == 100
    assert len(images.list_lines("val_20.txt")) == 20
    assert len(images.list_lines("nyu_test.txt")) == 16
    with pytest.raises(images.DataError, match="neither a file nor an official list"):
        images.list_lines("nope.txt")


def test_official_lists_name_the_first_missing_sample(tmp_path):
    with pytest.raises(images.DataError, match="ImageNet sample ILSVRC2012_val_00000293 of the sample list "
                                               "imagenet_selected_label100.txt: no image.*--sample-list"):
        images.imagenet_samples(tmp_path)
    (tmp_path / "JPEGImages").mkdir()
    with pytest.raises(images.DataError, match="VOC sample 2007_000323: .*2007_000323.jpg is missing"):
        images.voc_samples(tmp_path)
    with pytest.raises(images.DataError, match="NYU sample bathroom_rgb_00045: .*bathroom/rgb_00045.jpg is missing"):
        images.nyu_samples(tmp_path)
    with pytest.raises(images.DataError, match="does not exist"):
        images.voc_samples(tmp_path / "absent")


def test_voc_layout_under_vocdevkit_and_mask_reading(tmp_path):
    root = tmp_path / "VOCdevkit" / "VOC2012"
    (root / "JPEGImages").mkdir(parents=True)
    (root / "SegmentationClass").mkdir()
    Image.fromarray(np.zeros((4, 6, 3), np.uint8)).save(root / "JPEGImages" / "a.jpg")
    mask = Image.fromarray(np.array([[0, 1, 255]] * 4, np.uint8))
    mask.putpalette([0] * 768)
    mask.save(root / "SegmentationClass" / "a.png")
    (tmp_path / "list.txt").write_text("a\n")
    (s,) = images.voc_samples(tmp_path, tmp_path / "list.txt")
    assert images.load_mask(s).tolist() == [[0, 1, 255]] * 4
    assert images.load_rgb(s).shape == (4, 6, 3)
    Image.fromarray(np.zeros((4, 6, 3), np.uint8)).save(root / "SegmentationClass" / "a.png")
    with pytest.raises(images.DataError, match="mode RGB"):
        images.load_mask(s)


def test_nyu_depth_png_in_millimetres(tmp_path):
    (tmp_path / "kitchen").mkdir()
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(tmp_path / "kitchen" / "rgb_00001.jpg")
    Image.fromarray(np.array([[1000, 2500], [0, 65535]], np.uint16)).save(tmp_path / "kitchen" / "sync_depth_00001.png")
    (tmp_path / "l.txt").write_text("kitchen/rgb_00001.jpg kitchen/sync_depth_00001.png 518.8579\n")
    (s,) = images.nyu_samples(tmp_path, tmp_path / "l.txt")
    assert s.id == "kitchen_rgb_00001" and s.meta["focal"] == pytest.approx(518.8579)
    np.testing.assert_allclose(images.load_depth(s), [[1.0, 2.5], [0.0, 65.535]], rtol=1e-6)
    (tmp_path / "bad.txt").write_text("kitchen/rgb_00001.jpg\n")
    with pytest.raises(images.DataError, match="line 1"):
        images.nyu_samples(tmp_path, tmp_path / "bad.txt")


def test_folder_samples(tmp_path):
    with pytest.raises(images.DataError, match="no images"):
        images.folder_samples(tmp_path)
    (tmp_path / "a b").mkdir()
    for name in ("a b/x.png", "y.JPG"):
        Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(tmp_path / name)
    assert [s.id for s in images.folder_samples(tmp_path)] == ["a_b_x", "y"]
    assert [s.id for s in images.folder_samples(tmp_path, limit=1)] == ["a_b_x"]
