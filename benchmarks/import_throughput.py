"""Import throughput of the released feature test set (`fcbench data import`).

Writes a synthetic dpt set in the released format (2x4x1611x1536 float32, 79 MB per sample,
named after the official NYU list) of about --mb megabytes, then imports it three times: a
first import (every file read, checked value by value, hashed and copied), a re-import of the
unchanged files (nothing read), and a re-import after touching every file (read and hashed,
nothing copied). The source files were just written, so they are likely in the page cache:
the first figure is the checking-and-writing speed, not the source disk's.

    .venv/bin/python benchmarks/import_throughput.py [--mb 1024] [--dir /tmp]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from fcbench.codecs.features import testsets
from fcbench.codecs.features.importing import import_released

SHAPE = (2, 4, 1611, 1536)


def write_set(folder: Path, mb: int) -> int:
    """Released-format dpt files totalling about `mb` MB; returns the bytes written."""
    per_file = int(np.prod(SHAPE)) * 4
    ids = testsets.official_ids("dinov2", "dpt")
    n = max(1, min(len(ids), round(mb * 1e6 / per_file)))
    rng = np.random.default_rng(0)
    block = rng.normal(0, 2, SHAPE).astype(np.float32)
    folder.mkdir(parents=True)
    for i, sid in enumerate(ids[:n]):
        np.save(folder / f"{sid}.npy", block + np.float32(i))
    return sum(p.stat().st_size for p in folder.iterdir())


def run(label: str, src: Path, dest: Path) -> None:
    t0 = time.perf_counter()
    report = import_released(src, "dinov2", "dpt", dest)
    dt = time.perf_counter() - t0
    if not report.ok:
        raise SystemExit("\n".join(report.lines()))
    print(f"  {label:<34} {dt:7.2f} s  read {report.bytes_read / 1e6:7.1f} MB ({report.bytes_read / 1e6 / dt:7.1f} MB/s)"
          f"  copied {len(report.copied):2d} files ({report.bytes_copied / 1e6 / dt:7.1f} MB/s)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=int, default=1024, help="size of the synthetic set in MB (at most 16 files)")
    ap.add_argument("--dir", type=Path, default=None, help="where to write the set and its import (default: a temp dir)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        src, dest = Path(tmp) / "dpt" / "feature_test", Path(tmp) / "imported"
        size = write_set(src, args.mb)
        print(f"import of a synthetic released dinov2/dpt set: {len(list(src.iterdir()))} files, {size / 1e6:.0f} MB")
        run("first import (check + copy)", src, dest)
        run("re-import, unchanged files", src, dest)
        for p in src.iterdir():
            os.utime(p)
        run("re-import, touched files (hash)", src, dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
