"""`fcbench ranges fit|show`: truncation ranges fitted to training features
(fcbench.codecs.chain.fitted_ranges), for `fcbench encode --ranges FILE` and pipeline codec entries."""
from __future__ import annotations

import argparse
from pathlib import Path

from fcbench.pipelines.commands.options import output_file
from fcbench.pipelines.commands.uris import stage_inputs

AXES = {"none": None, "1": 1, "3": 3}


def register(sub: argparse._SubParsersAction) -> None:
    ranges = sub.add_parser("ranges", help="truncation ranges fitted to training features")
    ranges_sub = ranges.add_subparsers(dest="ranges_command", metavar="SUBCOMMAND")
    p = ranges_sub.add_parser("fit", help="fit per-channel quantile ranges on a training feature set")
    p.add_argument("--features", required=True, help="training feature set (folder or s3:// URI)")
    p.add_argument("--out", type=output_file, required=True, help="range table to write (JSON)")
    p.add_argument("--axis", choices=sorted(AXES), default="3",
                   help="3: one range per hidden channel (token layouts: llama3, dinov2 cls/seg); "
                        "1: one per C index (dpt layer, sd3 latent channel); none: one for all")
    p.add_argument("--tail", type=float, default=1e-4, help="quantile tail per side (0: min and max)")
    p.set_defaults(func=cmd_fit)
    p = ranges_sub.add_parser("show", help="print a range table")
    p.add_argument("table", type=Path)
    p.set_defaults(func=cmd_show)
    ranges.set_defaults(func=lambda args: (ranges.print_help(), 2)[1])


def _summary(table, path) -> str:
    import numpy as np

    lo, hi = np.asarray(table.low), np.asarray(table.high)
    axis = "none" if table.axis is None else table.axis
    return (f"{path}: {len(lo)} range(s) on axis {axis}, tail {table.tail:g}, fitted on {table.samples} "
            f"sample(s) ({table.values} values); low {lo.min():.4g}..{lo.max():.4g}, high {hi.min():.4g}..{hi.max():.4g}")


def cmd_fit(args: argparse.Namespace) -> int:
    stage_inputs(args, "features")
    from fcbench.codecs.chain import fitted_ranges
    from fcbench.codecs.features.featureset import FeatureSet

    fs = FeatureSet.open(args.features)
    table = fitted_ranges.fit((x for _, x in fs), axis=AXES[args.axis], tail=args.tail,
                              features=str(fs.root), model=fs.meta.get("model", ""), task=fs.meta.get("task", ""))
    fitted_ranges.save(table, args.out)
    print(_summary(table, args.out))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from fcbench.codecs.chain import fitted_ranges

    table = fitted_ranges.load(args.table)
    print(_summary(table, args.table))
    for i, (lo, hi) in enumerate(zip(table.low, table.high)):
        print(f"{i:6d} {lo:12.6g} {hi:12.6g}")
    return 0
