"""Training: rate-distortion behaviour, curves, reproducibility, checkpoints, resume after kill."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from fcbench.codecs import FeatureSet, get_codec
from fcbench.codecs.hyperprior import CheckpointError, load_checkpoint, train
from fcbench.codecs.hyperprior.data import CropDataset, build_training_sets, sample_training_sets, split_ids

LOW, HIGH = -10.0, 10.0


def _rd(checkpoint, lmbda, features):
    """(mean BPFP from real container bytes, mean normalised MSE) on held-out features."""
    codec = get_codec("hyperprior", checkpoint=checkpoint)
    rates, errors = [], []
    for x in features:
        data = codec.encode(x, lmbda, low=LOW, high=HIGH, layout="generic")
        y = codec.decode(data)
        rates.append(8 * len(data) / x.size)
        errors.append(float(np.mean(((np.clip(x, LOW, HIGH) - y) / (HIGH - LOW)) ** 2)))
    return float(np.mean(rates)), float(np.mean(errors))


@pytest.mark.slow  # the session-wide `trained` models: ~45 s of training on 2 cores
def test_trained_beats_untrained(trained, test_features, peaky_set, tmp_path, train_kw):
    lam = 0.0008
    # The same network and seed after a single step at a vanishing learning rate = untrained.
    untrained = train(peaky_set, tmp_path / "untrained", lam, steps=1, seed=0, **{**train_kw, "lr": 1e-12, "aux_lr": 1e-12})
    r0, d0 = _rd(untrained.checkpoint, lam, test_features)
    r1, d1 = _rd(trained[lam].checkpoint, lam, test_features)
    cost0, cost1 = lam * 255**2 * d0 + r0, lam * 255**2 * d1 + r1
    assert cost1 < 0.5 * cost0, (r0, d0, r1, d1)
    assert d1 < d0


@pytest.mark.slow  # the session-wide `trained` models: ~45 s of training on 2 cores
def test_higher_lambda_gives_higher_rate_and_lower_mse(trained, test_features):
    points = [(lam, *_rd(trained[lam].checkpoint, lam, test_features)) for lam in sorted(trained)]
    print("rate-distortion points (lambda, bpfp, mse):", points)
    rates = [r for _, r, _ in points]
    errors = [d for _, _, d in points]
    assert rates == sorted(rates) and len(set(rates)) == len(rates), points
    assert errors == sorted(errors, reverse=True), points


@pytest.mark.slow  # the session-wide `trained` models: ~45 s of training on 2 cores
def test_curves_and_checkpoints(trained):
    result = trained[0.0008]
    assert result.evaluate == "best" and result.checkpoint == result.best
    assert result.last.is_file() and result.best.is_file()
    keys = {"epoch", "step", "lr", "train_loss", "train_bpp", "train_mse", "val_loss", "val_bpp", "val_mse"}
    assert all(keys <= set(c) for c in result.curves)
    assert [c["epoch"] for c in result.curves] == list(range(1, len(result.curves) + 1))
    assert result.curves[-1]["step"] == 400
    assert result.curves[-1]["train_loss"] < result.curves[0]["train_loss"]
    state = load_checkpoint(result.last)
    assert state["epoch"] == len(result.curves) and state["lmbda"] == 0.0008
    assert state["config"] == {"arch": "bmshj2018-hyperprior", "N": 16, "M": 16, "in_channels": 1}
    best = load_checkpoint(result.best)
    assert best["best_val_loss"] == min(c["val_loss"] for c in result.curves)
    assert best["curves"][-1]["val_loss"] == best["best_val_loss"]
    saved = json.loads((result.last.parent / "result.json").read_text())
    assert saved["checkpoint"] == str(result.best) and saved["config"]["lmbda"] == 0.0008


@pytest.mark.slow  # three trainings
def test_same_seed_same_model_and_plot(peaky_set, tmp_path, train_kw):
    kw = {**train_kw, "N": 8, "M": 8, "crops_per_epoch": 16}
    a = train(peaky_set, tmp_path / "a", 0.01, steps=6, seed=3, **kw)
    b = train(peaky_set, tmp_path / "b", 0.01, steps=6, seed=3, **{**kw, "plot": True, "evaluate": "best"})
    c = train(peaky_set, tmp_path / "c", 0.01, steps=6, seed=4, **kw)
    def strip(curves):
        return [{k: v for k, v in row.items() if k != "seconds"} for row in curves]
    assert strip(a.curves) == strip(b.curves) != strip(c.curves)
    wa, wb = load_checkpoint(a.last)["model"], load_checkpoint(b.last)["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert b.checkpoint == b.best
    assert b.plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow  # trains, is killed, resumes: ~20 s
def test_resume_after_kill_loses_nothing(peaky_set, tmp_path, train_kw):
    kw = {**train_kw, "N": 8, "M": 8, "crops_per_epoch": 16}
    epochs = 30
    out = tmp_path / "killed"
    code = (
        "from fcbench.codecs.hyperprior import train;"
        f"train({str(peaky_set)!r}, {str(out)!r}, 0.01, epochs={epochs}, seed=0, **{kw!r})"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=dict(os.environ, PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1"))
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            curves = out / "curves.json"
            if curves.is_file() and len(json.loads(curves.read_text())) >= 2:
                break
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    done = load_checkpoint(out / "last.pt")["epoch"]
    assert 2 <= done < epochs, "the run should have been killed mid-training"
    resumed = train(peaky_set, out, 0.01, epochs=epochs, seed=0, **kw)
    assert resumed.resumed_from_epoch == done
    whole = train(peaky_set, tmp_path / "whole", 0.01, epochs=epochs, seed=0, **kw)
    def strip(curves):
        return [{k: v for k, v in row.items() if k != "seconds"} for row in curves]
    assert strip(resumed.curves) == strip(whole.curves)
    wa, wb = load_checkpoint(resumed.last)["model"], load_checkpoint(whole.last)["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    # A finished run resumes to itself without training again.
    again = train(peaky_set, out, 0.01, epochs=epochs, seed=0, **kw)
    assert again.resumed_from_epoch == epochs and again.curves == resumed.curves


def test_resume_refuses_changed_settings(peaky_set, tmp_path, train_kw):
    kw = {**train_kw, "N": 8, "M": 8, "crops_per_epoch": 8}
    train(peaky_set, tmp_path / "r", 0.01, steps=1, seed=0, **kw)
    with pytest.raises(CheckpointError, match="lmbda"):
        train(peaky_set, tmp_path / "r", 0.02, steps=2, seed=0, **kw)
    fresh = train(peaky_set, tmp_path / "r", 0.02, steps=1, seed=0, resume=False, **kw)
    assert load_checkpoint(fresh.last)["lmbda"] == 0.02


def test_bad_arguments_are_named(peaky_set, tmp_path, train_kw):
    with pytest.raises(ValueError, match="lambda must be a positive"):
        train(peaky_set, tmp_path / "x", -1.0, steps=1, **train_kw)
    with pytest.raises(ValueError, match="give epochs or steps"):
        train(peaky_set, tmp_path / "x", 0.01, **train_kw)
    with pytest.raises(ValueError, match="evaluate"):
        train(peaky_set, tmp_path / "x", 0.01, steps=1, **{**train_kw, "evaluate": "middle"})
    with pytest.raises(ValueError, match="not a feature set"):
        train(tmp_path / "nothing", tmp_path / "x", 0.01, steps=1, **train_kw)
    with pytest.raises(ValueError, match="unknown learned architecture"):
        train(peaky_set, tmp_path / "x", 0.01, steps=1, **{**train_kw, "arch": "nope"})
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA GPU"):
            train(peaky_set, tmp_path / "x", 0.01, steps=1, **{**train_kw, "device": "cuda"})


def test_task_conditions_supply_range_layout_and_crop(tmp_path):
    """A dinov2/cls feature set: learned range [-5, 5], dinov2 packing, the task's crop/batch."""
    rng = np.random.default_rng(0)
    fs = FeatureSet.create(tmp_path / "cls", "dinov2", "cls", "block 4 of 4")
    for i in range(3):
        fs.write(f"img{i}", rng.normal(0, 2, (1, 1, 20, 48)).astype(np.float32))
    r = train(fs.root, tmp_path / "out", 0.003, task="cls", steps=1, batch_size=2, crops_per_epoch=2,
              N=8, M=8, device="cpu", progress=False, plot=False)
    cfg = r.config
    assert (cfg["low"], cfg["high"], cfg["layout"]) == (-5.0, 5.0, "dinov2")
    assert cfg["crop"] == [256, 256] and cfg["batch_size"] == 2  # crop from the task, batch overridden
    assert cfg["range_source"] == "test conditions dinov2/cls"


def test_crops_larger_than_frames_are_centre_zero_padded():
    frame = np.full((10, 20), 0.5, np.float32)
    ds = CropDataset([frame], (16, 24), seed=0, length=3)
    crop = ds[0].numpy()[0]
    assert crop.shape == (16, 24)
    np.testing.assert_array_equal(crop[3:13, 2:22], frame)
    assert crop.sum() == frame.sum()
    # Crops depend only on (seed, epoch, index): the same whichever order or worker asks.
    big = np.random.default_rng(0).random((50, 60)).astype(np.float32)
    ds = CropDataset([big], (8, 8), seed=1, length=4)
    ds.set_epoch(2)
    first = [ds[i] for i in range(4)]
    assert all(torch.equal(first[i], ds[i]) for i in reversed(range(4)))
    ds.set_epoch(3)
    assert not torch.equal(first[0], ds[0])


def test_build_training_sets(peaky_set, tmp_path):
    tr, va = build_training_sets(peaky_set, tmp_path / "train", tmp_path / "val", val_fraction=0.2, seed=5)
    assert len(tr) == 8 and len(va) == 2 and not set(tr.ids) & set(va.ids)
    assert sorted(tr.ids + va.ids) == sorted(FeatureSet.open(peaky_set).ids)
    assert tr.meta["split"] == "train" and va.meta["split"] == "val" and tr.meta["task"] == "peaky"
    assert not tr.verify() and not va.verify()
    again = build_training_sets(peaky_set, tmp_path / "train", tmp_path / "val", val_fraction=0.2, seed=5)
    assert again[1].ids == va.ids  # seeded, and a rerun resumes in place
    assert split_ids(tr.ids, 0.5, 1) != split_ids(tr.ids, 0.5, 2)
    with pytest.raises(ValueError, match="val_fraction"):
        split_ids(tr.ids, 1.5, 0)


class _SyntheticMachine:
    """A Machine-shaped extractor of synthetic peaky 'training inputs' (no model hub here)."""

    def extract(self, data, out, **options):
        rng = np.random.default_rng(int(options.get("seed", 0)))
        fs = FeatureSet.create(out, "synthetic", "peaky", "none", source=str(data))
        for i in range(int(options.get("count", 5))):
            fs.write(f"train{i}", rng.laplace(0, 1, (1, 1, 16, 32)).astype(np.float32))
        return fs


def test_sample_training_sets_from_a_machine(tmp_path):
    tr, va = sample_training_sets(_SyntheticMachine(), tmp_path / "inputs", tmp_path / "sets", 0.2, seed=0, count=5)
    assert (len(tr), len(va)) == (4, 1)
    assert (tmp_path / "sets" / "all" / "manifest.json").is_file()


def test_the_paper_preset_validates_as_the_reference(peaky_set, tmp_path, train_kw):
    """paper: a separate validation folder, batches of 64, fresh random crops each epoch and the
    unweighted mean of the batch losses (the reference's train.py); fcbench: fixed crops in
    training-size batches, averaged over samples. The logged val loss is that computation."""
    from torch.utils.data import DataLoader

    from fcbench.codecs.hyperprior.data import load_frames
    from fcbench.codecs.hyperprior.model import ModelConfig, build_model
    from fcbench.codecs.hyperprior.training import REFERENCE_VAL_BATCH, rd_loss
    from tests.codecs.hyperprior.conftest import peaky

    rng = np.random.default_rng(5)
    val = FeatureSet.create(tmp_path / "feature_test", "synthetic", "peaky", "none")
    for i in range(70):  # 64 + 6: a short last batch, where the two means differ
        val.write(f"v{i:02d}", peaky(rng, rows=64, cols=128))
    kw = {**train_kw, "N": 8, "M": 8, "crops_per_epoch": 8}
    paper = train(peaky_set, tmp_path / "paper", 0.01, epochs=2, seed=0, val_features=val.root, preset="paper", **kw)
    assert paper.config["validation"] == "reference" and paper.config["settings_source"]["validation"] == "preset paper"
    assert paper.config["val_batch_size"] == REFERENCE_VAL_BATCH == 64
    ours = train(peaky_set, tmp_path / "ours", 0.01, epochs=1, seed=0, val_features=val.root, **kw)
    assert ours.config["validation"] == "fcbench" and ours.config["val_batch_size"] == kw["batch_size"]
    given = train(peaky_set, tmp_path / "given", 0.01, epochs=1, seed=0, val_features=val.root, preset="paper",
                  validation="fcbench", **kw)
    assert given.config["validation"] == "fcbench"  # an explicit setting wins over the preset

    state = load_checkpoint(paper.last)
    model = build_model(ModelConfig(**state["config"]))
    model.load_state_dict(state["model"])
    model.eval()
    frames = load_frames(val, LOW, HIGH, "generic")
    crops = CropDataset(frames, kw["crop"], 0, train=False, redraw=True)
    crops.set_epoch(1)  # the last epoch's crops
    with torch.no_grad():
        batch_losses = [float(rd_loss(model(x), x, 0.01)["loss"]) for x in DataLoader(crops, batch_size=64)]
    assert len(batch_losses) == 2
    assert paper.curves[-1]["val_loss"] == pytest.approx(np.mean(batch_losses), rel=1e-5)
    epoch0 = CropDataset(frames, kw["crop"], 0, train=False, redraw=True)
    assert any(not torch.equal(epoch0[i], crops[i]) for i in range(len(frames)))  # fresh crops each epoch
    with pytest.raises(ValueError, match="validation must be one of"):
        train(peaky_set, tmp_path / "bad", 0.01, steps=1, validation="other", **kw)


def test_two_trainings_into_one_folder_cannot_overwrite_each_other(peaky_set, tmp_path, train_kw):
    """#24 item 5: a second training into a folder another one is writing fails at once, saying so
    (before: both exited 0 and the folder held one of them)."""
    from fcbench.codecs.common import atomic
    from fcbench.codecs.hyperprior.training import LOCK

    out = tmp_path / "busy"
    out.mkdir()
    kw = {**train_kw, "N": 8, "M": 8, "crops_per_epoch": 8}
    with atomic.locked(out / LOCK):  # what a running training holds
        with pytest.raises(RuntimeError, match="another training is writing"):
            train(peaky_set, out, 0.02, steps=1, seed=0, **kw)
    assert not (out / "last.pt").exists()
    assert train(peaky_set, out, 0.02, steps=1, seed=0, **kw).last.is_file()  # free again
