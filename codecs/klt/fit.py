"""Fit a klt table on training features (never on what is measured).

Two streaming passes over the feature set, one sample in memory at a time: per group the
channel mean and covariance (float64 sums), its eigenvectors by decreasing eigenvalue (the KLT;
`components` keeps the first K, `shrinkage` blends the covariance towards its diagonal first),
then each component's mean magnitude (the entropy model's prior). The fit options, the model
settings and the source (feature set, its manifest's sha256, samples, tokens) are recorded in
the table; a rerun with the same source and options finds the table done and keeps it.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np

from fcbench.codecs.features.featureset import FeatureSet
from fcbench.codecs.klt.table import CHANNEL_AXIS, Group, KLTTable, TableError, load_table, token_matrices

MODEL = {"family": "adaptive zero-inflated geometric", "prior_tokens": 16, "block_tokens": 16,
         "prior_deadzone": 0.35}
MIN_RHO = 0.2  # components predicted less well than this are coded without prediction
MAX_RHO = 0.98


def _conditions(fs: FeatureSet) -> Any:
    """The test conditions of the set's (model, task), if fcbench knows them."""
    from fcbench.codecs.conditions import load_conditions

    try:
        return load_conditions().get(fs.meta.get("model", ""), fs.meta.get("task", ""))
    except (KeyError, ValueError):
        return None


def fit_options(fs: FeatureSet, layout: Optional[str], low_high: Optional[Sequence[float]], components: Optional[int],
                shrinkage: float, prediction: bool = True) -> dict[str, Any]:
    """The effective fit options: layout and range from the arguments, else the test conditions of
    the set's (model, task), else the generic layout and the training features' own range."""
    tc = _conditions(fs)
    if layout is None:
        layout = tc.layout if tc is not None else "generic"
    if layout not in CHANNEL_AXIS:
        raise ValueError(f"unknown layout {layout!r}; choose one of {', '.join(CHANNEL_AXIS)}")
    if low_high is not None:
        range_source = "given"
    elif tc is not None and np.ndim(tc.traditional.low) == 0:
        low_high, range_source = (tc.traditional.low, tc.traditional.high), "test conditions"
    else:
        range_source = "training features"
    if low_high is not None:
        low_high = [float(v) for v in low_high]
        if len(low_high) != 2 or not low_high[1] > low_high[0]:
            raise ValueError(f"the range must be LOW HIGH with HIGH > LOW, got {low_high}")
    if not 0.0 <= shrinkage <= 1.0:
        raise ValueError(f"shrinkage must be in [0, 1], got {shrinkage}")
    if components is not None and components < 1:
        raise ValueError(f"components must be >= 1, got {components}")
    return {"layout": layout, "range": low_high, "range_source": range_source, "components": components,
            "shrinkage": float(shrinkage), "prediction": bool(prediction)}


def _source(fs: FeatureSet) -> dict[str, Any]:
    manifest = Path(fs.root) / "manifest.json"
    return {"features": str(fs.root), "manifest_sha256": hashlib.sha256(manifest.read_bytes()).hexdigest(),
            "model": fs.meta.get("model"), "task": fs.meta.get("task"), "samples": len(fs.ids)}


def fit_table(features: Union[str, Path, FeatureSet], out: Union[str, Path], *, layout: Optional[str] = None,
              low_high: Optional[Sequence[float]] = None, components: Optional[int] = None, shrinkage: float = 0.0,
              prediction: bool = True, resume: bool = True) -> tuple[KLTTable, Path, bool]:
    """(table, path, fitted now) for the training feature set `features`, written atomically to
    `out` (a file, or a folder: `<model>-<task>-klt.npz`). An existing table fitted from the same
    set with the same options is kept (`fitted now` False)."""
    fs = features if isinstance(features, FeatureSet) else FeatureSet.open(features)
    if len(fs) == 0:
        raise ValueError(f"{fs.root} holds no samples to fit a klt table on")
    options = fit_options(fs, layout, low_high, components, shrinkage, prediction)
    source = _source(fs)
    path = Path(out)
    if path.is_dir() or not path.suffix:
        path = path / f"{fs.meta.get('model') or 'features'}-{fs.meta.get('task') or 'set'}-klt.npz"
    if resume and path.is_file():
        try:
            done, _ = load_table(path)
        except TableError:
            done = None  # a damaged file is refitted, not trusted
        if done is not None and done.meta.get("fit") == options and done.meta.get("source", {}).get(
                "manifest_sha256") == source["manifest_sha256"]:
            return done, path, False
    axis = CHANNEL_AXIS[options["layout"]]
    sums = _Moments()
    for sample in fs.ids:
        sums.add(_matrices(fs, sample, axis))
    groups_basis = sums.bases(options["shrinkage"], options["components"])
    scales = _Scales(groups_basis, sums.means())
    for sample in fs.ids:
        scales.add(_matrices(fs, sample, axis), 1 if axis == 3 else int(fs.info(sample).shape[3]))
    low, high = options["range"] if options["range"] is not None else sums.value_range()
    groups = tuple(Group(mean.astype(np.float32), basis.astype(np.float32), scale.astype(np.float32), rho.astype(np.float32))
                   for mean, basis, (scale, rho) in zip(sums.means(), groups_basis, scales.result(options["prediction"])))
    meta = {"fit": options, "model": MODEL, "source": {**source, "tokens": sums.tokens}}
    table = KLTTable(axis, groups, float(low), float(high), meta)
    table.save(path)
    return table, path, True


def _matrices(fs: FeatureSet, sample: str, axis: int) -> list[np.ndarray]:
    x = np.asarray(fs.read(sample), dtype=np.float64)
    if x.ndim != 4:
        raise ValueError(f"sample {sample} of {fs.root}: shape {x.shape} is not (N, C, H, W)")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"sample {sample} of {fs.root} holds NaN or Inf")
    return token_matrices(x, axis)


class _Moments:
    """Streaming per-group sums for the means and covariances."""

    def __init__(self) -> None:
        self.count: list[int] = []
        self.total: list[np.ndarray] = []
        self.outer: list[np.ndarray] = []
        self.low, self.high = np.inf, -np.inf
        self.tokens = 0

    def add(self, matrices: list[np.ndarray]) -> None:
        if not self.count:
            self.count = [0] * len(matrices)
            self.total = [np.zeros(m.shape[1]) for m in matrices]
            self.outer = [np.zeros((m.shape[1], m.shape[1])) for m in matrices]
        if len(matrices) != len(self.count) or any(m.shape[1] != t.size for m, t in zip(matrices, self.total)):
            raise ValueError(f"training samples differ in channels or groups: {[m.shape[1] for m in matrices]} "
                             f"after {[t.size for t in self.total]}")
        for i, m in enumerate(matrices):
            self.count[i] += m.shape[0]
            self.total[i] += m.sum(axis=0)
            self.outer[i] += m.T @ m
            self.low, self.high = min(self.low, float(m.min())), max(self.high, float(m.max()))
        self.tokens += matrices[0].shape[0]

    def means(self) -> list[np.ndarray]:
        return [t / n for t, n in zip(self.total, self.count)]

    def bases(self, shrinkage: float, components: Optional[int]) -> list[np.ndarray]:
        out = []
        for n, mean, outer in zip(self.count, self.means(), self.outer):
            if n < 2:
                raise ValueError(f"a klt table needs at least 2 training tokens per group, got {n}")
            cov = outer / n - np.outer(mean, mean)
            cov = (1.0 - shrinkage) * cov + shrinkage * np.diag(np.diag(cov))
            values, vectors = np.linalg.eigh((cov + cov.T) / 2.0)
            order = np.argsort(values)[::-1][: components or len(values)]
            out.append(_signs_fixed(vectors[:, order]))
        return out

    def value_range(self) -> tuple[float, float]:
        return (self.low, self.high) if self.high > self.low else (self.low - 1.0, self.low + 1.0)


def _signs_fixed(vectors: np.ndarray) -> np.ndarray:
    """Eigenvectors with a deterministic sign (largest entry positive): the same table from the
    same data on any machine's LAPACK."""
    pick = np.argmax(np.abs(vectors), axis=0)
    return vectors * np.sign(vectors[pick, np.arange(vectors.shape[1])])


class _Scales:
    """Second pass: per component the mean |coefficient| and the correlation with the same
    component `lag` tokens back (within a sample), for the prediction and the model's prior."""

    def __init__(self, bases: list[np.ndarray], means: list[np.ndarray]) -> None:
        self.bases, self.means = bases, means
        self.sums = [np.zeros(b.shape[1]) for b in bases]
        self.cross = [np.zeros(b.shape[1]) for b in bases]
        self.previous = [np.zeros(b.shape[1]) for b in bases]
        self.count = 0

    def add(self, matrices: list[np.ndarray], lag: int) -> None:
        for i, (m, basis, mean) in enumerate(zip(matrices, self.bases, self.means)):
            y = (m - mean) @ basis
            self.sums[i] += np.abs(y).sum(axis=0)
            self.cross[i] += (y[lag:] * y[:-lag]).sum(axis=0)
            self.previous[i] += (y[:-lag] ** 2).sum(axis=0)
        self.count += matrices[0].shape[0]

    def result(self, prediction: bool) -> list[tuple[np.ndarray, np.ndarray]]:
        """(scale, rho) per group; the scale of a predicted component is its residual's (the
        Laplace scale shrinks with sqrt(1 - rho^2))."""
        out = []
        for total, cross, previous in zip(self.sums, self.cross, self.previous):
            rho = np.clip(cross / np.maximum(previous, 1e-300), -MAX_RHO, MAX_RHO)
            rho = np.where(prediction & (np.abs(rho) >= MIN_RHO) & (previous > 0), rho, 0.0)
            out.append((total / self.count * np.sqrt(1.0 - rho * rho), rho))
        return out


def describe(table: KLTTable, path: Path) -> str:
    """One line for the CLI: what was fitted on what."""
    src = table.meta.get("source", {})
    fit = table.meta.get("fit", {})
    return (f"{path}: {len(table.groups)} group(s) x {table.groups[0].channels} channels -> "
            f"{table.groups[0].components} components, {fit.get('layout')} layout (channel axis {table.channel_axis}), "
            f"step range [{table.low:g}, {table.high:g}] ({fit.get('range_source')}), "
            f"fitted on {src.get('samples')} samples / {src.get('tokens')} tokens of {src.get('features')}; "
            f"{sum(int(np.count_nonzero(g.prediction)) for g in table.groups)} predicted component(s); "
            f"options {json.dumps({k: fit.get(k) for k in ('components', 'shrinkage', 'prediction')})}")
