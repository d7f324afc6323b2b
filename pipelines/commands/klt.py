"""`fcbench klt fit|show`: the fitted table of the `klt` codec (fcbench.codecs.klt), for
`fcbench encode --codec klt --option table=TABLE` and pipeline codec entries."""
from __future__ import annotations

import argparse
from pathlib import Path

from fcbench.pipelines.commands.uris import stage_inputs


def register(sub: argparse._SubParsersAction) -> None:
    klt = sub.add_parser("klt", help="fit the klt codec's table on training features")
    klt_sub = klt.add_subparsers(dest="klt_command", metavar="SUBCOMMAND")
    p = klt_sub.add_parser("fit", help="fit a klt table (channel KLT + entropy-model priors) on a training feature set")
    p.add_argument("--features", required=True, help="training feature set (folder or s3:// URI); never the one "
                                                     "you measure")
    p.add_argument("--out", type=Path, required=True, help="table file to write (.npz), or a folder for "
                                                           "<model>-<task>-klt.npz")
    p.add_argument("--layout", choices=("llama3", "dinov2", "sd3", "generic"),
                   help="how the tensors hold channels (default: the test conditions' layout of the set's model/task; "
                        "llama3/dinov2: channels last, one table per C index; sd3/generic: channels first)")
    p.add_argument("--range", nargs=2, type=float, metavar=("LOW", "HIGH"),
                   help="the range whose 10-bit step is the QP unit (default: the test conditions' range, else the "
                        "training features' min and max)")
    p.add_argument("--components", type=int, help="keep the first K components (default: all)")
    p.add_argument("--shrinkage", type=float, default=0.0, help="blend the covariance towards its diagonal (0..1)")
    p.add_argument("--no-prediction", action="store_true", help="no prediction from the previous token / row")
    p.add_argument("--no-resume", action="store_true", help="refit even when OUT holds this fit already")
    p.set_defaults(func=cmd_fit)
    p = klt_sub.add_parser("show", help="describe a klt table")
    p.add_argument("table", type=Path)
    p.set_defaults(func=cmd_show)
    klt.set_defaults(func=lambda args: (klt.print_help(), 2)[1])


def cmd_fit(args: argparse.Namespace) -> int:
    stage_inputs(args, "features")
    from fcbench.codecs.klt.fit import describe, fit_table

    table, path, fitted = fit_table(args.features, args.out, layout=args.layout, low_high=args.range,
                                    components=args.components, shrinkage=args.shrinkage,
                                    prediction=not args.no_prediction, resume=not args.no_resume)
    print(("fitted " if fitted else "already fitted (kept) ") + describe(table, path))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from fcbench.codecs.klt.fit import describe
    from fcbench.codecs.klt.table import load_table

    table, sha = load_table(args.table)
    print(describe(table, args.table))
    print(f"sha256 {sha}")
    return 0
