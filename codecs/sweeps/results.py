"""The results table of a sweep folder: the union of every finished job recorded there.

Each reconstructed set `recon/<label>/<rate_tag>/` records, per sample, the row of the job
that made it (`extra["row"]`). The table (results.csv, results.json) is rebuilt from all of
them, under the folder's lock, whenever a sweep ends: two sweeps into one folder (other QPs,
another codec, at the same time or one after the other) add up instead of replacing each other.

results.json (format fcbench-results/3): model, task, features, the rows and the per-(label,
rate point) summary of the whole folder, `sets` (label, codec, rate point, unit, identity and
conditions of each reconstruction), and, of the sweep that wrote it last: label, codec, preset,
rate_unit, identity, conditions, failures, cache_hits, jobs_run, wall_s. A row's `label` is the
codec and its chain (fcbench.codecs.chain.label: x265+side), its `codec` the codec alone (x265).
Format 2 had no `label`: its `codec` held the label (readers: row_label).
"""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Optional, Sequence, cast

import numpy as np

from fcbench.codecs.chain import recorded_label
from fcbench.codecs.chain.rate import RATE_FIELDS
from fcbench.codecs.common import atomic
from fcbench.codecs.features.featureset import MANIFEST, FeatureSet, FeatureSetError
from fcbench.codecs.sweeps.cache import jsonable

FORMAT = "fcbench-results/3"
LOCK = ".results.lock"
MEASURED = ("mse", "psnr_f", "psnr_q", "enc_s", "dec_s")
ROW_FIELDS = ("sample", "label", "codec", "preset", "rate_point", "rate_unit", *RATE_FIELDS, *MEASURED, "cache_hit")
# Means over samples: bpfp is the paper's; side and container bits are shown apart.
MEAN_FIELDS = ("bpfp", "side_bpfp", "container_bpfp", "ebpfp", *MEASURED)
SUMMARY_FIELDS = ("label", "codec", "preset", "rate_point", "rate_unit", "samples", *MEAN_FIELDS)


def recorded_row(metrics: dict, preset: Optional[str]) -> dict:
    """What a reconstruction records of its job's row (the sample, label, codec and rate point
    are its own)."""
    return {"preset": preset, **{k: metrics.get(k) for k in (*RATE_FIELDS, *MEASURED)}}


def make_row(sample: str, label: str, codec: str, rate_point: Any, rate_unit: Optional[str], recorded: dict,
             cache_hit: bool) -> dict:
    row = {"sample": sample, "label": label, "codec": codec, "rate_point": rate_point, "rate_unit": rate_unit,
           **recorded, "cache_hit": cache_hit}
    return {k: row.get(k) for k in ROW_FIELDS}


def row_label(entry: dict) -> Any:
    """The label of a row, summary or set entry of a results document of any format (2: `codec`)."""
    return entry.get("label", entry.get("codec"))


def _mean(values: Sequence[Optional[float]]) -> Optional[float]:
    """The mean, or None when a value is missing (a missing time stays missing, never 0)."""
    if not values or any(v is None for v in values):
        return None
    return float(np.mean(cast(Sequence[float], values)))


def summarize(rows: Sequence[dict]) -> list[dict]:
    """Per (label, rate point), in row order: its codec, unit, sample count and means over samples."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["label"], r["rate_point"]), []).append(r)
    out = []
    for (label, rate_point), sel in groups.items():
        entry = {"label": label, "codec": sel[0].get("codec"), "preset": sel[0].get("preset"), "rate_point": rate_point,
                 "rate_unit": sel[0].get("rate_unit"), "samples": len(sel)}
        entry.update({k: _mean([r.get(k) for r in sel]) for k in MEAN_FIELDS})
        out.append(entry)
    return out


def folder_records(out: Path) -> tuple[dict[tuple, dict], list[dict]]:
    """({(label, rate point, sample): row}, sets) of every reconstruction under out/recon."""
    rows: dict[tuple, dict] = {}
    sets = []
    for manifest in sorted((out / "recon").glob(f"*/*/{MANIFEST}")):
        try:
            fs = FeatureSet.open(manifest.parent)
        except FeatureSetError:
            continue  # not ours to judge here: the sweep that owns it reports it
        label, rate_point, unit = recorded_label(fs.meta), fs.meta.get("rate_point"), fs.meta.get("rate_unit")
        codec = fs.meta.get("codec")
        if label is None or not isinstance(codec, str) or rate_point is None:
            continue
        sets.append({"label": label, "codec": codec, "rate_point": rate_point, "rate_unit": unit, "identity": fs.meta.get("codec_identity"),
                     "conditions": fs.meta.get("conditions"), "recon": manifest.parent.relative_to(out).as_posix()})
        for sample in fs.ids:
            recorded = fs.info(sample).extra.get("row")
            if isinstance(recorded, dict):
                rows[(label, rate_point, sample)] = make_row(sample, label, codec, rate_point, unit, recorded, cache_hit=True)
    return rows, sets


def _order(key: tuple) -> tuple:
    label, rate_point, _ = key
    return (label, float(rate_point))


def write_tables(out: Path, run_rows: Sequence[dict], run: dict) -> list[dict]:
    """Rebuild results.csv/json of `out` from every recorded job, this run's rows taking
    precedence (their rate recounted now, their cache_hit as this run saw it); `run` holds the
    fields of this sweep (label, codec, preset, identity, ...). Returns the table's rows."""
    out.mkdir(parents=True, exist_ok=True)
    with atomic.locked(out / LOCK):
        recorded, sets = folder_records(out)
        for row in run_rows:
            recorded[(row["label"], row["rate_point"], row["sample"])] = row
        # A stable order, whatever order parallel jobs finished in: label, rate point, sample.
        keys = sorted(recorded, key=lambda k: (_order(k), str(k[2])))
        rows = [recorded[k] for k in keys]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=ROW_FIELDS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if row[k] is None else row[k] for k in ROW_FIELDS})
        atomic.write_bytes(out / "results.csv", buf.getvalue().encode())
        atomic.write_json(out / "results.json", jsonable({
            "format": FORMAT, **run, "rows": rows, "summary": summarize(rows), "sets": sets}))
    return rows
