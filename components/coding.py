"""One codec at one rate point over a feature set, for the codec components.

A thin adapter over fcbench.codecs.sweeps.run.run_sweep (the library does the coding, caching and
error reporting per sample): it checks the codec identity hash the pipeline was given, runs the
sweep in a work folder beside the output artifacts and moves the reconstruction, bitstreams and
results into the artifact paths (same filesystem: atomic renames).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Optional, Union

from fcbench.codecs.common import atomic


def _single_dir(parent: Path) -> Path:
    dirs = [p for p in parent.iterdir() if p.is_dir()] if parent.is_dir() else []
    if len(dirs) != 1:
        raise RuntimeError(f"expected one rate-point folder in {parent}, found {[d.name for d in dirs]}")
    return dirs[0]


def _move(src: Path, dst: Path) -> None:
    if dst.exists():
        shutil.rmtree(dst) if dst.is_dir() else dst.unlink()
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.replace(src, dst)


def code_features(features_dir: Union[str, Path], codec: str, codec_options: dict, identity_hash: str,
                  rate_point: Union[int, float], conditions: dict, recon_dir: Union[str, Path],
                  results_path: Union[str, Path], bitstreams_dir: Union[str, Path, None] = None,
                  jobs: Optional[int] = None, preset: Optional[str] = None, label: str = "") -> dict[str, Any]:
    """Code every sample of `features_dir` with `codec` at `rate_point`; returns the summary row
    (bpfp, ebpfp, mse, psnr_q, enc_s, dec_s, samples) plus the codec identity hash. `preset`
    names the preset the conditions came from in the results; `label` (the codec and its chain,
    e.g. x265+side; default the codec name) names the rows and the reconstruction: the name the
    evaluation reports the point under."""
    from fcbench.codecs import chain, get_codec
    from fcbench.codecs.common import settings
    from fcbench.codecs.sweeps.run import run_sweep
    from fcbench.components.codec_identity import check_identity
    from fcbench.components.inputs import staged_codec_options

    codec_options = staged_codec_options(codec, codec_options)  # a table or checkpoint URI -> local file
    check_identity(get_codec(codec, **codec_options), identity_hash)
    recon_dir = Path(recon_dir)
    recon_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{codec}-", dir=recon_dir.parent))
    try:
        cache = settings.CACHE_DIR.get()
        name = chain.named(codec, label)
        result = run_sweep(features_dir, codec, codec_options, [rate_point], conditions, work,
                           jobs=jobs if jobs is not None else settings.SWEEP_JOBS.get(), progress=False,
                           cache_dir=str(cache) if cache else None, preset=preset, label=name)
        summary = sweep_summary(result, work)
        _move(_single_dir(work / "recon" / chain.folder(name)), recon_dir)
        if bitstreams_dir is not None:
            _move(_single_dir(work / "bitstreams" / chain.folder(name)), Path(bitstreams_dir))
        atomic.write_bytes(results_path, (work / "results.json").read_bytes())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary["identity_hash"] = identity_hash
    return summary


def sweep_summary(result: Any, work: Path) -> dict[str, Any]:
    """The one (label, rate point) summary row of a single-rate-point sweep."""
    rows = result.summary if hasattr(result, "summary") else None
    if rows is None:
        raise RuntimeError(f"sweep in {work} returned no summary")
    rows = list(rows)
    if len(rows) != 1:
        raise RuntimeError(f"expected one summary row from a one-rate-point sweep, got {len(rows)}")
    row = rows[0]
    return dict(row) if isinstance(row, dict) else dict(vars(row))
