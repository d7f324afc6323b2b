"""Import the published pretrained hyperprior models (the reference's CompressAI checkpoints).

The reference's training script saves a torch dict {state_dict, epoch, loss, optimizer,
aux_optimizer, lr_scheduler}: `state_dict` is a 1-channel CompressAI ScaleHyperprior
(bmshj2018-hyperprior, N=128, M=192) under CompressAI's key names. Its file and folder names
carry the training settings:

    <...>/trunl-5_trunh5_uniform0_bitdepth1/
        hyperprior_lambda0.001_epoch800_lr1e-4_bs128_patch256-256_checkpoint.pth.tar

(dpt: `trunl[-1,-2,-10,-10]_trunh[1,2,10,10]_...`). The lambda and the normalisation range are
read from those names when not given, and checked against the test conditions of the task.
The weights are loaded with `weights_only=True` (no pickled code runs), checked against the
architecture, and written as an fcbench checkpoint (`checkpoint.py`) that records the source
file's name and sha256; the codec identity carries that sha256.
"""
from __future__ import annotations

import math
import pickle
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

from fcbench.codecs.common.hashing import sha256_file
from fcbench.codecs.hyperprior.checkpoint import CheckpointError, local_path, save_checkpoint, unpickler_complaint, unsafe_message

ARCH = "bmshj2018-hyperprior"
PAPER_N, PAPER_M = 128, 192
FILE_NAME = re.compile(
    r"^(?P<name>.+?)_lambda(?P<lmbda>[0-9.eE+-]+)_epoch(?P<epochs>\d+)_lr(?P<lr>[0-9.eE+-]+)"
    r"_bs(?P<batch>\d+)_patch(?P<rows>\d+)-(?P<cols>\d+)_checkpoint(?P<best>_best)?\.pth\.tar$")
FOLDER_NAME = re.compile(r"^trunl(?P<low>.+)_trunh(?P<high>.+)_(?P<quant>[a-z]+)(?P<samples>\d+)_bitdepth(?P<bits>\d+)$")
Range = Union[float, list[float]]


@dataclass(frozen=True)
class ReferenceNames:
    """What the reference's file and folder names say (None where a name does not say it)."""

    lmbda: Optional[float] = None
    epochs: Optional[int] = None
    lr: Optional[float] = None
    batch: Optional[int] = None
    crop: Optional[tuple[int, int]] = None
    low: Optional[Range] = None
    high: Optional[Range] = None
    best: Optional[bool] = None  # the reference's training writes <name>_checkpoint.pth.tar (last) and _best


def _range(text: str) -> Range:
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        return [float(v) for v in text[1:-1].split(",")]
    return float(text)


def parse_names(path: Union[str, Path]) -> ReferenceNames:
    """The training settings in a reference checkpoint's file and folder names."""
    path = Path(path)
    fields: dict[str, Any] = {}
    m = FILE_NAME.match(path.name)
    if m:
        fields.update(lmbda=float(m["lmbda"]), epochs=int(m["epochs"]), lr=float(m["lr"]), batch=int(m["batch"]),
                      crop=(int(m["rows"]), int(m["cols"])), best=bool(m["best"]))
    f = FOLDER_NAME.match(path.parent.name)
    if f:
        try:
            fields.update(low=_range(f["low"]), high=_range(f["high"]))
        except ValueError:
            raise CheckpointError(f"{path.parent.name}: cannot read the truncation range from the folder name") from None
    return ReferenceNames(**fields)


def _same(a: Range, b: Range) -> bool:
    aa, bb = (a if isinstance(a, list) else [a]), (b if isinstance(b, list) else [b])
    return len(aa) == len(bb) and all(math.isclose(float(x), float(y), rel_tol=1e-9, abs_tol=1e-12) for x, y in zip(aa, bb))


def resolve_settings(path: Path, model: str, task: str, lmbda: Optional[float], low: Optional[Range],
                     high: Optional[Range], strict: bool = True) -> tuple[float, Range, Range, ReferenceNames, list[str]]:
    """(lambda, low, high, names, notes): given values win; each is checked against the names and
    the test conditions. strict=False turns disagreements with the test conditions into notes."""
    from fcbench.codecs.conditions import load_conditions

    tc = load_conditions().get(model, task).learned
    names = parse_names(path)
    notes: list[str] = []
    for what, given, named in (("lambda", lmbda, names.lmbda), ("low", low, names.low), ("high", high, names.high)):
        if given is not None and named is not None and not _same(given, named):
            raise CheckpointError(f"{path}: --{what} {given} contradicts the {named} in its name")
    lmbda = lmbda if lmbda is not None else names.lmbda
    if lmbda is None:
        raise CheckpointError(f"{path.name}: no lambda in the file name (hyperprior_lambda<L>_..._checkpoint.pth.tar); give --lambda")
    if low is None and high is None and names.low is None:
        notes.append(f"no truncation in the folder name {path.parent.name!r}: using the test conditions' {tc.low}..{tc.high}")
    low = low if low is not None else (names.low if names.low is not None else tc.low)
    high = high if high is not None else (names.high if names.high is not None else tc.high)
    problems = []
    if not any(math.isclose(lmbda, v, rel_tol=1e-9) for v in tc.lambdas):
        problems.append(f"lambda {lmbda:g} is not one of the test conditions' {model}/{task} lambdas {tc.lambdas}")
    if not (_same(low, tc.low) and _same(high, tc.high)):
        problems.append(f"range {low}..{high} is not the test conditions' {model}/{task} hyperprior range {tc.low}..{tc.high}")
    if problems and strict:
        raise CheckpointError(f"{path.name}: " + "; ".join(problems) + " (use --allow-nonstandard to import it anyway)")
    return float(lmbda), low, high, names, notes + problems


def _state_dict(raw: Any, path: Path) -> dict:
    if not isinstance(raw, dict) or not isinstance(raw.get("state_dict"), dict):
        found = sorted(raw)[:8] if isinstance(raw, dict) else type(raw).__name__
        raise CheckpointError(f"{path} is not a reference hyperprior checkpoint: no 'state_dict' (found {found})")
    sd = raw["state_dict"]
    if sd and all(k.startswith("module.") for k in sd):  # saved from a DataParallel wrapper
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd


def infer_config(sd: dict, path: Path):
    """The ModelConfig the weights fit: N, M and channels from the conv shapes."""
    from fcbench.codecs.hyperprior.model import ModelConfig

    for key in ("g_a.0.weight", "g_a.6.weight", "h_a.0.weight", "g_s.6.weight"):
        if key not in sd:
            raise CheckpointError(f"{path}: {key} missing: not a CompressAI ScaleHyperprior state dict")
    n, channels = (int(s) for s in sd["g_a.0.weight"].shape[:2])
    return ModelConfig(arch=ARCH, N=n, M=int(sd["g_a.6.weight"].shape[0]), in_channels=channels)


def load_reference(path: Union[str, Path]) -> tuple[dict, dict]:
    """(raw checkpoint dict, its model state dict), loaded with weights_only=True."""
    import torch

    p = local_path(path)
    try:
        raw = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Unsupported global" not in str(exc):  # not an object it refused: a damaged or foreign file
            raise CheckpointError(f"checkpoint {p} cannot be read (not a torch checkpoint: the unpickler "
                                  f"stopped at {unpickler_complaint(exc)})") from None
        raise CheckpointError(unsafe_message(p)) from None  # weights_only refused an object; nothing ran
    except Exception as exc:  # torch raises many types for damaged files
        raise CheckpointError(f"{p} cannot be loaded with weights_only=True ({type(exc).__name__}: {exc})") from exc
    return raw, _state_dict(raw, p)


@dataclass
class ImportedHyperprior:
    path: Path
    lmbda: float
    low: Range
    high: Range
    config: dict
    source_sha256: str
    epoch: Optional[int]
    notes: list[str]


def import_checkpoint(ckpt: Union[str, Path], model: str, task: str, out: Union[str, Path],
                      lmbda: Optional[float] = None, low: Optional[Range] = None, high: Optional[Range] = None,
                      strict: bool = True) -> ImportedHyperprior:
    """Convert a reference checkpoint into an fcbench hyperprior checkpoint at `out`."""
    from fcbench.codecs.hyperprior.model import build_model

    src = local_path(ckpt)
    lmbda, low, high, names, notes = resolve_settings(src, model, task, lmbda, low, high, strict)
    raw, sd = load_reference(src)
    cfg = infer_config(sd, src)
    if (cfg.N, cfg.M, cfg.in_channels) != (PAPER_N, PAPER_M, 1):
        msg = f"weights are N={cfg.N}, M={cfg.M}, {cfg.in_channels} channel(s); the paper's are N={PAPER_N}, M={PAPER_M}, 1"
        if strict:
            raise CheckpointError(f"{src.name}: {msg} (use --allow-nonstandard to import it anyway)")
        notes.append(msg)
    net = build_model(cfg)
    try:
        net.load_state_dict(sd)
    except RuntimeError as exc:
        raise CheckpointError(f"{src}: the weights do not fit a {cfg}: {exc}") from exc
    sha = sha256_file(src)
    epoch = int(raw["epoch"]) if isinstance(raw.get("epoch"), (int, float)) else None
    train = {"task": f"{model}/{task}", "low": low, "high": high, "lmbda": lmbda, "epochs": names.epochs,
             "lr": names.lr, "batch_size": names.batch, "crop": list(names.crop) if names.crop else None,
             "evaluate": "last"}
    state = {"config": cfg.as_dict(), "lmbda": lmbda, "task": f"{model}/{task}", "epoch": epoch or 0,
             "model": net.state_dict(), "train": train,
             "source": {"file": src.name, "folder": src.parent.name, "sha256": sha, "format": "FCM-LM CompressAI checkpoint",
                        "loss": float(raw["loss"]) if _is_number(raw.get("loss")) else None}}
    path = save_checkpoint(out, state)
    return ImportedHyperprior(Path(path), lmbda, low, high, cfg.as_dict(), sha, epoch, notes)


def _is_number(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def default_out_name(lmbda: float, model: str, task: str) -> str:
    return f"{model}-{task}-hyperprior-lambda{lmbda:g}.pt"

