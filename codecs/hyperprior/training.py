"""Train one learned codec per (task, lambda) on packed, normalised feature frames.

As the reference (docs/test-conditions.md §5): random crops, loss = lambda*255^2*MSE + bpp (bpp from
the likelihoods, over the crop's pixels), Adam 1e-4 on the network, Adam 1e-3 on the entropy
bottleneck quantiles (aux loss), grad-norm clip 1.0, ReduceLROnPlateau on the validation loss.
A checkpoint is written atomically after every epoch (`last.pt`) and whenever validation
improves (`best.pt`); a killed run resumes from `last.pt` and ends bit-identical (CPU) to an
uninterrupted one, because all randomness is derived from (seed, epoch).
"""
from __future__ import annotations

import contextlib
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Literal, Optional, Sequence, Union

import numpy as np
import torch
from torch.utils.data import DataLoader

from fcbench.codecs.common import atomic
from fcbench.codecs.features.featureset import FeatureSet, FeatureSetError
from fcbench.codecs.hyperprior.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from fcbench.codecs.hyperprior.data import CropDataset, load_frames, seed_worker, split_ids
from fcbench.codecs.hyperprior.model import DEFAULT_ARCH, ModelConfig, build_model, parameter_groups
from fcbench.codecs.hyperprior.plot import plot_curves
from fcbench.codecs.hyperprior.progress import Progress, header
from fcbench.codecs.hyperprior.training_settings import resolve as resolve_training

Evaluate = Literal["last", "best"]
Range = Union[float, Sequence[float]]
LAST, BEST, CURVES, PLOT, RESULT = "last.pt", "best.pt", "curves.json", "curves.png", "result.json"
# Options that must match for a run to resume from an existing last.pt (epochs/steps may grow).
_RESUME_KEYS = ("lmbda", "model", "crop", "batch_size", "lr", "aux_lr", "seed", "low", "high", "layout",
                "crops_per_epoch", "train_ids", "val_ids", "validation")
REFERENCE_VAL_BATCH = 64
LOCK = ".training.lock"  # one training per out_dir at a time (two would overwrite each other's last.pt)  # the reference train.py's --test-batch-size default


@dataclass
class TrainResult:
    checkpoint: Path            # the evaluated checkpoint (last or best, per `evaluate`)
    last: Path
    best: Path
    curves: list[dict]          # per epoch: epoch, step, train/val loss, bpp, mse, lr, seconds
    plot: Optional[Path]
    config: dict                # model config + every training option (what a tracker logs)
    evaluate: str = "last"
    resumed_from_epoch: int = 0

    def as_dict(self) -> dict:
        d = asdict(self)
        for k in ("checkpoint", "last", "best", "plot"):
            d[k] = str(d[k]) if d[k] is not None else None
        return d


def rd_loss(out: dict, x: torch.Tensor, lmbda: float) -> dict[str, torch.Tensor]:
    """lambda*255^2*MSE + bpp, bpp = -sum(log2 likelihoods) / (batch * rows * cols)."""
    n, _, h, w = x.shape
    pixels = n * h * w
    bpp = sum(torch.log(p).sum() for p in out["likelihoods"].values()) / (-math.log(2) * pixels)
    mse = torch.mean((out["x_hat"] - x) ** 2)
    return {"loss": lmbda * 255**2 * mse + bpp, "bpp": bpp, "mse": mse}


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} asked for, but no CUDA GPU is available")
    return dev


def _task_conditions(task: str):
    from fcbench.codecs.conditions import load_conditions

    tc = load_conditions()
    if "/" in task:
        model, name = task.split("/", 1)
        return tc.get(model, name)
    return tc.for_task(task)


def _manifest_conditions(fs: FeatureSet):
    """The test conditions of the feature set's own (model, task), or None when unknown."""
    try:
        return _task_conditions(f"{fs.meta.get('model')}/{fs.meta.get('task')}")
    except KeyError:
        return None


def _open_sets(features: Union[str, Path, FeatureSet], val_features, val_fraction: float, seed: int):
    """(train set, train ids, val set, val ids): explicit val set, a folder holding train/ and
    val/ (as build_training_sets writes), or one set split by val_fraction."""
    if isinstance(features, FeatureSet):
        fs = features
    else:
        root = Path(features)
        if val_features is None and (root / "train" / "manifest.json").is_file() and (root / "val" / "manifest.json").is_file():
            features, val_features = root / "train", root / "val"
        fs = FeatureSet.open(features)
    if val_features is not None:
        vs = val_features if isinstance(val_features, FeatureSet) else FeatureSet.open(val_features)
        if not len(fs) or not len(vs):
            raise FeatureSetError("training and validation feature sets must both hold samples")
        return fs, fs.ids, vs, vs.ids
    train_ids, val_ids = split_ids(fs.ids, val_fraction, seed)
    return fs, train_ids, fs, val_ids


class _Subset:
    """Iterate over chosen ids of a feature set (what load_frames reads)."""

    def __init__(self, fs: FeatureSet, ids: Sequence[str]):
        self.fs, self.ids, self.root = fs, list(ids), fs.root

    def __len__(self) -> int:
        return len(self.ids)

    def __iter__(self) -> Iterator[tuple[str, np.ndarray]]:
        for i in self.ids:
            yield i, self.fs.read(i)


def _normalisation(fs: FeatureSet, ids: Sequence[str], low, high, layout, tconds) -> tuple[Any, Any, str, str]:
    """(low, high, layout, where they came from): explicit, the task's learned path, the
    manifest's task, or the training set's own min/max."""
    if (low is None) != (high is None):
        raise ValueError("give both low and high, or neither")
    if low is None and tconds is not None:
        return tconds.learned.low, tconds.learned.high, layout or tconds.layout, f"test conditions {tconds.key}"
    if low is None:
        lo, hi = math.inf, -math.inf
        for i in ids:
            x = fs.read(i)
            lo, hi = min(lo, float(x.min())), max(hi, float(x.max()))
        if hi <= lo:
            hi = lo + 1.0
        return lo, hi, layout or "generic", "training-set min/max"
    return low, high, layout or (tconds.layout if tconds is not None else "generic"), "explicit"


def _json_range(v):
    return [float(a) for a in v] if isinstance(v, (list, tuple, np.ndarray)) else float(v)


def _epoch_seed(seed: int, epoch: int) -> int:
    return int(np.random.SeedSequence([seed, 3, epoch]).generate_state(1)[0])


def _run_epoch(model, loader, lmbda, device, optimizer=None, aux_optimizer=None, max_steps=None, step=0, clip=1.0,
               batch_mean: bool = False, on_step: Optional[Callable[[int], None]] = None):
    """One pass; trains when optimizers are given. -> (means dict, steps taken). The means are
    over samples, or (`batch_mean`, the reference's validation) the unweighted mean of the batch
    means."""
    totals = {"loss": 0.0, "bpp": 0.0, "mse": 0.0, "aux": 0.0}
    seen = 0
    taken = 0
    for x in loader:
        if max_steps is not None and step + taken >= max_steps:
            break
        x = x.to(device)
        if optimizer is not None:
            optimizer.zero_grad(set_to_none=True)
            aux_optimizer.zero_grad(set_to_none=True)
            terms = rd_loss(model(x), x, lmbda)
            terms["loss"].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
            aux = model.aux_loss()
            aux.backward()
            aux_optimizer.step()
            taken += 1
            if on_step is not None:
                on_step(taken)
        else:
            with torch.no_grad():
                terms = rd_loss(model(x), x, lmbda)
                aux = model.aux_loss()
        b = 1 if batch_mean else x.shape[0]
        seen += b
        for k in ("loss", "bpp", "mse"):
            totals[k] += float(terms[k].detach()) * b
        totals["aux"] += float(aux.detach()) * b
        if not math.isfinite(totals["loss"]):
            raise RuntimeError(f"training diverged: non-finite loss at step {step + taken} (lower the learning rate?)")
    if not seen:
        raise RuntimeError("an epoch saw no data (empty loader)")
    return {k: v / seen for k, v in totals.items()}, taken


def train(
    features: Union[str, Path, FeatureSet],
    out_dir: Union[str, Path],
    lmbda: float,
    *,
    crop: Optional[tuple[int, int]] = None,
    epochs: Optional[int] = None,
    steps: Optional[int] = None,
    batch_size: Optional[int] = None,
    lr: Optional[float] = None,
    aux_lr: float = 1e-3,
    seed: Optional[int] = None,
    val_fraction: float = 0.1,
    val_features: Union[str, Path, FeatureSet, None] = None,
    validation: Optional[str] = None,
    low: Optional[Range] = None,
    high: Optional[Range] = None,
    layout: Optional[str] = None,
    task: Optional[str] = None,
    preset: Optional[str] = None,
    arch: str = DEFAULT_ARCH,
    N: Optional[int] = None,
    M: Optional[int] = None,
    device: str = "auto",
    evaluate: Optional[Evaluate] = None,
    resume: bool = True,
    progress: bool = True,
    crops_per_epoch: Optional[int] = None,
    num_workers: int = 0,
    clip: float = 1.0,
    plot: bool = True,
) -> TrainResult:
    """Train a hyperprior at one lambda; returns the evaluated checkpoint and the curves.

    The training settings (crop, epochs, steps, batch_size, lr, seed, N, M, evaluate, validation) are
    defined in training_settings.py: left unset (None, or the pipelines' 0 / [] / 0.0) they are
    the test conditions' of `task` ("cls" or "dinov2/cls"), else of the manifest's (model, task)
    when known, else the fallbacks there. The range and layout come from the same conditions
    unless low/high are given (without any conditions: the training set's min/max). An epoch is
    `crops_per_epoch` random crops (default: one per training frame, as the reference). `steps`
    caps the optimizer steps (the last epoch may be partial). `plot=False` skips the PNG (the
    curves are still returned and written as JSON). The result's config records every
    effective setting and where it came from (`settings_source`). `validation` unset: the
    `preset`'s procedure (fcbench: fixed crops of the validation frames in batches of the
    training size, averaged over samples; paper: the reference's, batches of 64, a fresh random
    crop per frame each epoch, the unweighted mean of the batch losses); the validation frames
    are `val_features` (the reference's separate feature_test folder) or a `val_fraction` split.
    """
    if not (isinstance(lmbda, (int, float)) and math.isfinite(lmbda) and lmbda > 0):
        raise ValueError(f"lambda must be a positive number, got {lmbda!r}")
    seed = int(seed or 0)
    tconds = _task_conditions(task) if task else None  # a wrong task is named before any file is read
    fs, train_ids, vs, val_ids = _open_sets(features, val_features, val_fraction, seed)
    tconds = tconds or _manifest_conditions(fs)
    knobs, sources = _settings(dict(crop=crop, epochs=epochs, steps=steps, batch_size=batch_size, lr=lr, seed=seed,
                                    N=N, M=M, evaluate=evaluate, validation=validation), tconds, preset)
    crop, epochs, steps, batch_size = tuple(knobs["crop"]), knobs["epochs"], knobs["steps"], int(knobs["batch_size"])
    lr, evaluate, validation = float(knobs["lr"]), knobs["evaluate"], knobs["validation"]
    dev = resolve_device(device)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with _exclusive(out):
        lo, hi, layout, range_source = _normalisation(fs, train_ids, low, high, layout, tconds)
        cfg = ModelConfig(arch=arch, N=int(knobs["N"]), M=int(knobs["M"]))
        train_set = CropDataset(load_frames(_Subset(fs, train_ids), lo, hi, layout), crop, seed, crops_per_epoch)
        reference_validation = validation == "reference"
        val_set = CropDataset(load_frames(_Subset(vs, val_ids), lo, hi, layout), crop, seed, train=False,
                              redraw=reference_validation)
        val_batch = REFERENCE_VAL_BATCH if reference_validation else batch_size
        steps_per_epoch = math.ceil(len(train_set) / batch_size)
        max_epochs = int(epochs) if epochs is not None else math.ceil(int(knobs["steps"]) / steps_per_epoch)
        options = {
            "lmbda": float(lmbda), "model": cfg.as_dict(), "crop": list(crop), "batch_size": batch_size,
            "lr": lr, "aux_lr": aux_lr, "seed": int(seed), "low": _json_range(lo), "high": _json_range(hi),
            "layout": layout, "crops_per_epoch": len(train_set), "train_ids": list(train_ids), "val_ids": list(val_ids),
            "epochs": max_epochs, "steps": steps, "task": task or "", "range_source": range_source,
            "device": dev.type, "evaluate": evaluate, "validation": validation, "val_batch_size": val_batch,
            "clip": clip, "features": str(fs.root),
            "settings": knobs, "settings_source": sources,
        }

        bar = Progress(progress, max_epochs, steps_per_epoch)
        bar.say(header(options, sources, torch.get_num_threads(), steps_per_epoch, len(train_ids), len(val_ids)))
        torch.manual_seed(int(seed))
        run = _Optimisation.build(cfg, dev, lr, aux_lr)
        history = _History(out)
        if resume and history.last.is_file():
            history.resume(run, options, dev, bar)
        resumed_from = history.epoch
        loaders = _Loaders(train_set, val_set, batch_size, val_batch, num_workers, int(seed), dev, reference_validation)
        for epoch in range(history.epoch, max_epochs):
            if steps is not None and history.step >= steps:
                break
            t0 = time.perf_counter()
            tr, va = _train_epoch(run, loaders, epoch, float(lmbda), dev, steps, history.step, clip, bar)
            history.step += tr.pop("steps")
            row = {"epoch": epoch + 1, "step": history.step, "lr": va.pop("lr"), "seconds": time.perf_counter() - t0,
                   **{f"train_{k}": v for k, v in tr.items()}, **{f"val_{k}": v for k, v in va.items()}}
            history.record(row, run, cfg, float(lmbda), task or "", options, va["loss"])
            bar.say(f"epoch {epoch + 1}/{max_epochs} step {history.step}: train loss {tr['loss']:.4g} bpp {tr['bpp']:.4g} "
                    f"mse {tr['mse']:.3g} | val loss {va['loss']:.4g} bpp {va['bpp']:.4g} mse {va['mse']:.3g} "
                    f"({bar.eta(row['seconds'], epoch + 1)})")
        return history.finish(options, arch, float(lmbda), task, str(evaluate), resumed_from, plot, steps, max_epochs)


def _settings(given: dict, tconds: Any, preset: Optional[str]) -> tuple[dict, dict]:
    """(effective training settings, where each came from): given, else the test conditions', else
    the fallbacks (training_settings.py); the validation procedure unset: the preset's."""
    knobs, sources = resolve_training(given, tconds.learned if tconds else None)
    if not knobs["validation"]:
        from fcbench.codecs.presets import get_preset

        chosen = get_preset(preset)
        knobs["validation"], sources["validation"] = chosen.validation, f"preset {chosen.name}"
    return knobs, sources


@dataclass
class _Optimisation:
    """The model and what trains it: the main and auxiliary (entropy bottleneck) optimisers, and
    the plateau scheduler of the main learning rate."""

    model: Any
    optimizer: Any
    aux_optimizer: Any
    scheduler: Any

    @classmethod
    def build(cls, cfg: ModelConfig, dev: torch.device, lr: float, aux_lr: float) -> "_Optimisation":
        model = build_model(cfg).to(dev)
        main_params, aux_params = parameter_groups(model)
        optimizer = torch.optim.Adam(main_params, lr=lr)
        return cls(model, optimizer, torch.optim.Adam(aux_params, lr=aux_lr),
                   torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, "min"))

    def state(self) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "aux_optimizer": self.aux_optimizer.state_dict(), "scheduler": self.scheduler.state_dict()}

    def load(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.aux_optimizer.load_state_dict(state["aux_optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])


@dataclass
class _Loaders:
    """The epoch's data: training crops shuffled by (seed, epoch), the validation crops in order."""

    train_set: Any
    val_set: Any
    batch_size: int
    val_batch: int
    num_workers: int
    seed: int
    dev: torch.device
    reference_validation: bool

    def train(self, epoch: int) -> DataLoader:
        self.train_set.set_epoch(epoch)
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=True, num_workers=self.num_workers,
                          generator=torch.Generator().manual_seed(_epoch_seed(self.seed, epoch)),
                          worker_init_fn=seed_worker, pin_memory=self.dev.type == "cuda")

    def validation(self, epoch: int) -> DataLoader:
        self.val_set.set_epoch(epoch)  # only the reference's validation draws new crops
        return DataLoader(self.val_set, batch_size=self.val_batch)


def _train_epoch(run: _Optimisation, loaders: _Loaders, epoch: int, lmbda: float, dev: torch.device,
                 steps: Optional[int], step: int, clip: float, bar: Progress) -> tuple[dict, dict]:
    """One epoch: training (its metrics and `steps` taken), then validation (its metrics and the
    learning rate it was trained with; the scheduler then steps on the validation loss)."""
    torch.manual_seed(_epoch_seed(loaders.seed, epoch))  # quantisation noise: a function of (seed, epoch)
    loader = loaders.train(epoch)
    run.model.train()
    bar.epoch_started(epoch)
    tr, taken = _run_epoch(run.model, loader, lmbda, dev, run.optimizer, run.aux_optimizer, steps, step, clip,
                           on_step=bar.step_done)
    run.model.eval()
    va, _ = _run_epoch(run.model, loaders.validation(epoch), lmbda, dev, batch_mean=loaders.reference_validation)
    lr_used = run.optimizer.param_groups[0]["lr"]
    run.scheduler.step(va["loss"])
    return {**tr, "steps": taken}, {**va, "lr": lr_used}


class _History:
    """What a training folder holds: the last and the best checkpoint (resume from the last), the
    curves so far, the epoch and step reached."""

    def __init__(self, out: Path) -> None:
        self.out, self.last, self.best = out, out / LAST, out / BEST
        self.epoch, self.step, self.best_val = 0, 0, math.inf
        self.curves: list[dict] = []

    def resume(self, run: _Optimisation, options: dict, dev: torch.device, bar: Progress) -> None:
        state = load_checkpoint(self.last, map_location=dev)
        saved = state.get("train", {})
        diff = [k for k in _RESUME_KEYS if saved.get(k) != options[k]]
        if diff:
            raise CheckpointError(
                f"{self.last} was trained with different {', '.join(diff)}; use another out_dir or resume=False"
            )
        run.load(state)
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.best_val = float(state["best_val_loss"])
        self.curves = list(state["curves"])
        bar.say(f"resuming {self.last} after epoch {self.epoch} (step {self.step})")

    def record(self, row: dict, run: _Optimisation, cfg: ModelConfig, lmbda: float, task: str, options: dict,
               val_loss: float) -> None:
        """The epoch's curves row and checkpoints (best first: a kill in between re-runs this epoch)."""
        self.curves.append(row)
        self.epoch = int(row["epoch"])
        state = {
            "config": cfg.as_dict(), "lmbda": lmbda, "task": task, "epoch": self.epoch, "step": self.step,
            **run.state(), "rng": {"torch": torch.get_rng_state()}, "curves": self.curves, "train": options,
        }
        if val_loss < self.best_val or not self.best.is_file():
            self.best_val = min(self.best_val, val_loss)
            save_checkpoint(self.best, {**state, "best_val_loss": self.best_val})
        save_checkpoint(self.last, {**state, "best_val_loss": self.best_val})
        atomic.write_json(self.out / CURVES, self.curves)

    def finish(self, options: dict, arch: str, lmbda: float, task: Optional[str], evaluate: str, resumed_from: int,
               plot: bool, steps: Optional[int], max_epochs: int) -> TrainResult:
        if not self.last.is_file():
            raise RuntimeError(f"no epoch was trained into {self.out} (steps={steps}, epochs={max_epochs})")
        curves = self.curves or list(load_checkpoint(self.last)["curves"])
        png = plot_curves(curves, self.out / PLOT, title=f"{arch} lambda={lmbda} {task or ''}".strip()) if plot else None
        result = TrainResult(
            checkpoint=self.best if evaluate == "best" else self.last, last=self.last, best=self.best,
            curves=curves, plot=png, config={**options, "arch": arch}, evaluate=evaluate, resumed_from_epoch=resumed_from,
        )
        atomic.write_json(self.out / RESULT, result.as_dict())
        return result


@contextlib.contextmanager
def _exclusive(out: Path) -> Iterator[None]:
    """The training's hold on its out_dir: a second training into it fails at once, clearly."""
    try:
        with atomic.locked(out / LOCK, wait=False):
            yield
    except atomic.Busy:
        raise RuntimeError(f"another training is writing {out}: wait for it to end, or give another out_dir") from None


def load_curves(out_dir: Union[str, Path]) -> list[dict]:
    """The per-epoch curves a (possibly unfinished) run has written so far."""
    return json.loads((Path(out_dir) / CURVES).read_text())
