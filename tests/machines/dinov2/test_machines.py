"""End to end on tiny random-weight models and synthetic data: extract -> evaluate, resume,
re-injection of the features, perturbations, and clear errors on bad input."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from fcbench.codecs.features.featureset import FeatureSet, FeatureSetError
from fcbench.machines import Evaluation, get_machine, machine_names
from fcbench.machines.images import DataError


def _machine(task, assets, **kw):
    return get_machine("dinov2", task, weights=assets["weights"], progress=False, **assets["options"], **kw)


def _perturbed(src, dst, scale, seed=0):
    """A copy of feature set `src` with Gaussian noise (what a lossy codec would hand back)."""
    fs = FeatureSet.open(src)
    out = FeatureSet.create(dst, fs.meta["model"], fs.meta["task"], fs.meta["split_point"])
    rng = np.random.default_rng(seed)
    for sample_id, x in fs:
        out.write(sample_id, (x + scale * rng.standard_normal(x.shape)).astype(x.dtype), **fs.info(sample_id).extra)
    return out


def test_machines_are_registered():
    assert {("dinov2", "cls"), ("dinov2", "seg"), ("dinov2", "dpt")} <= set(machine_names())


def test_cls_end_to_end(cls_assets, cls_features, tmp_path):
    fs = FeatureSet.open(cls_features)
    assert len(fs) == 6 and fs.meta["model"] == "dinov2" and fs.meta["task"] == "cls"
    assert fs.meta["split_point"].startswith("block 4 of 4 (pre-norm)") and fs.meta["blocks"] == [3]
    assert len(fs.meta["checkpoint_sha256"]) == 64 and fs.meta["checkpoint"] == "dinov2_vitg14_pretrain.pth"
    info = fs.info(fs.ids[0])
    assert info.shape == [1, 1, 257, 64] and info.dtype == "float32"
    m = _machine("cls", cls_assets)
    ev = m.evaluate(cls_features, cls_assets["data"], reference=cls_features, sample_list=cls_assets["sample_list"])
    assert isinstance(ev, Evaluation) and ev.primary.name == "top1"
    assert ev.primary.value == 100.0 and ev.feature_mse == 0.0
    assert [p["id"] for p in ev.per_sample] == fs.ids and all(p["correct"] for p in ev.per_sample)
    json.dumps(ev.as_dict())
    # heavy damage to the features lowers accuracy and is measured by the feature MSE
    noisy = _perturbed(cls_features, tmp_path / "noisy", scale=50.0)
    ev2 = m.evaluate(noisy, cls_assets["data"], reference=cls_features, sample_list=cls_assets["sample_list"])
    assert ev2.feature_mse == pytest.approx(2500, rel=0.1)
    assert ev2.primary.value < 100.0
    assert len({p["label"] for p in ev.per_sample}) > 1  # the synthetic labels are not all one class
    logits_a = m.logits(torch.from_numpy(fs.read(fs.ids[0])))
    logits_b = m.logits(torch.from_numpy(noisy.read(fs.ids[0])))
    assert not torch.allclose(logits_a, logits_b)


def test_cls_split_path_equals_full_forward_with_injection(cls_assets, cls_features):
    """Evaluation runs from the split point; that must equal the whole network with the
    stored feature injected by a hook, and with no injection at all."""
    from fcbench.machines.dinov2 import preprocess as pre
    from fcbench.machines.images import imagenet_samples, load_pil_rgb

    m = _machine("cls", cls_assets)
    sample = imagenet_samples(cls_assets["data"], cls_assets["sample_list"])[0]
    x = pre.cls_input(load_pil_rgb(sample))[None]
    feature = torch.from_numpy(FeatureSet.open(cls_features).read(sample.id))
    with torch.no_grad():
        full = m.head(m.backbone.norm(m.backbone(x)))
        with m.backbone.inject(-1, feature[0]):
            injected = m.head(m.backbone.norm(m.backbone(x)))
        split = m.logits(feature)
    assert torch.equal(injected, full)
    torch.testing.assert_close(split, full, atol=1e-5, rtol=0)


def test_extract_resumes_and_refuses_another_checkpoint(cls_assets, cls_features, tmp_path):
    out = tmp_path / "fs"
    shutil.copytree(cls_features, out)
    first = FeatureSet.open(out).ids[0]
    before = (out / f"{first}.npy").stat().st_mtime_ns
    # drop one sample from the manifest and its file: only that one is recomputed
    (out / f"{FeatureSet.open(out).ids[-1]}.npy").unlink()
    m = _machine("cls", cls_assets)
    fs = m.extract(cls_assets["data"], out, sample_list=cls_assets["sample_list"])
    assert len(fs) == 6 and not fs.verify()
    assert (out / f"{first}.npy").stat().st_mtime_ns == before
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["checkpoint_sha256"] = "0" * 64
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(FeatureSetError, match="another checkpoint"):
        m.extract(cls_assets["data"], out, sample_list=cls_assets["sample_list"])


def test_seg_end_to_end(seg_assets, tmp_path):
    m = _machine("seg", seg_assets)
    fs = m.extract(seg_assets["data"], tmp_path / "seg", sample_list=seg_assets["sample_list"])
    shapes = {tuple(fs.info(i).shape) for i in fs.ids}
    assert shapes == {(2, 1, 1370, 64), (1, 1, 1370, 64)}  # 48x72 -> 512x768: 2 crops; 64x64: 1
    ev = m.evaluate(fs, seg_assets["data"], sample_list=seg_assets["sample_list"])
    assert ev.primary.name == "miou" and ev.primary.value == pytest.approx(100.0)
    assert ev.feature_mse is None
    noisy = _perturbed(fs.root, tmp_path / "noisy", scale=30.0)
    ev2 = m.evaluate(noisy, seg_assets["data"], reference=fs, sample_list=seg_assets["sample_list"])
    assert ev2.primary.value < 100.0 and ev2.feature_mse > 0


def test_dpt_end_to_end(dpt_assets, tmp_path):
    m = _machine("dpt", dpt_assets)
    fs = m.extract(dpt_assets["data"], tmp_path / "dpt", sample_list=dpt_assets["sample_list"])
    assert fs.meta["blocks"] == [0, 1, 2, 3] and "blocks 1/2/3/4 of 4" in fs.meta["split_point"]
    # 120x160 padded to 126x168 -> 9x12 patches + CLS; image and flip; 4 layers
    assert {tuple(fs.info(i).shape) for i in fs.ids} == {(2, 4, 1 + 9 * 12, 64)}
    ev = m.evaluate(fs, dpt_assets["data"], sample_list=dpt_assets["sample_list"])
    assert ev.primary.name == "rmse" and ev.primary.direction == "lower"
    assert ev.primary.value < 1e-3  # ground truth = the uncompressed prediction in mm
    noisy = _perturbed(fs.root, tmp_path / "noisy", scale=5.0)
    assert m.evaluate(noisy, dpt_assets["data"], sample_list=dpt_assets["sample_list"]).primary.value > 0.01
    # flipped view really is the mirror: swapping the two views changes the prediction
    x = torch.from_numpy(fs.read(fs.ids[0]))
    assert not torch.allclose(m.depth(x, (120, 160)), m.depth(x.flip(0), (120, 160)))


def test_evaluate_rejects_wrong_sets_and_shapes(cls_assets, cls_features, seg_assets, tmp_path):
    m = _machine("cls", cls_assets)
    with pytest.raises(FeatureSetError, match="dinov2/cls"):
        _machine("seg", seg_assets).evaluate(cls_features, seg_assets["data"], sample_list=seg_assets["sample_list"])
    fs = FeatureSet.open(cls_features)
    bad = FeatureSet.create(tmp_path / "bad", "dinov2", "cls", fs.meta["split_point"])
    bad.write(fs.ids[0], np.zeros((1, 1, 100, 64), np.float32))
    with pytest.raises(ValueError, match="feature shape"):
        m.evaluate(bad, cls_assets["data"], sample_list=cls_assets["sample_list"])
    stray = FeatureSet.create(tmp_path / "stray", "dinov2", "cls", fs.meta["split_point"])
    stray.write("not_in_list", fs.read(fs.ids[0]))
    with pytest.raises(FeatureSetError, match="not in the cls sample list"):
        m.evaluate(stray, cls_assets["data"], sample_list=cls_assets["sample_list"])


def test_missing_and_unreadable_samples_are_named(cls_assets, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(cls_assets["data"], data)
    victim = sorted(data.glob("*.JPEG"))[0]
    victim.write_bytes(b"garbage")
    m = _machine("cls", cls_assets)
    with pytest.raises(DataError, match=f"sample {victim.stem}: cannot read"):
        m.extract(data, tmp_path / "fs", sample_list=cls_assets["sample_list"])
    victim.unlink()
    with pytest.raises(DataError, match=f"ImageNet sample {victim.stem} of the sample list .*: no image"):
        m.extract(data, tmp_path / "fs", sample_list=cls_assets["sample_list"])


def test_training_features_from_any_image_folder(cls_assets, tmp_path):
    folder = tmp_path / "train" / "n01440764"
    folder.mkdir(parents=True)
    for p in sorted(cls_assets["data"].glob("*.JPEG"))[:2]:
        shutil.copy(p, folder / p.name.replace("ILSVRC2012_val", "train"))
    fs = _machine("cls", cls_assets, source="folder").extract(tmp_path / "train", tmp_path / "fs")
    assert fs.ids == ["n01440764_train_00000001", "n01440764_train_00000002"]
    assert fs.meta["source"] == "folder"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_features_match_cpu(cls_assets, cls_features, tmp_path):
    fs = _machine("cls", cls_assets, device="cuda").extract(cls_assets["data"], tmp_path / "gpu", sample_list=cls_assets["sample_list"])
    cpu = FeatureSet.open(cls_features)
    for sample_id in cpu.ids:
        np.testing.assert_allclose(fs.read(sample_id), cpu.read(sample_id), atol=1e-3, rtol=1e-3)
