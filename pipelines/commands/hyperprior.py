"""`fcbench hyperprior ...`: train learned codecs and build their train/validation feature sets."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from fcbench.pipelines.commands.options import add_training_flags, output_folder, scalar_or_list, training_flags
from fcbench.pipelines.commands.uris import stage_inputs


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("hyperprior", help="learned codec: train a hyperprior, split training features")
    hsub = p.add_subparsers(dest="hyperprior_command", metavar="SUBCOMMAND")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])

    t = hsub.add_parser("train", help="train one hyperprior at one lambda on a training feature set")
    t.add_argument("--features", type=str, required=True,
                   help="feature set folder (or a folder holding train/ and val/ feature sets)")
    t.add_argument("--val-features", type=Path, default=None,
                   help="validation feature set (the reference validates on its own feature_test folder); "
                        "default: a --val-fraction split of --features")
    t.add_argument("--preset", default=None, help="fcbench or paper: whose validation procedure applies when "
                                                 "--validation is not given (paper: the reference's)")
    t.add_argument("--lambda", dest="lmbda", type=float, required=True, help="rate-distortion lambda (the rate point)")
    t.add_argument("--out", type=output_folder, required=True, help="output folder (checkpoints, curves, plot)")
    t.add_argument("--task", default=None,
                   help="test-condition task (cls or dinov2/cls): range, layout and the unset training settings "
                        "(default: the features' own model/task)")
    add_training_flags(t.add_argument_group("training settings (default: the test conditions')"))
    t.add_argument("--crops-per-epoch", type=int, default=None, help="default: one per training frame")
    t.add_argument("--arch", default="bmshj2018-hyperprior",
                   help="learned architecture: bmshj2018-hyperprior (the reference's scale hyperprior) or "
                        "mbt2018-mean (mean-scale)")
    t.add_argument("--aux-lr", type=float, default=1e-3, help="learning rate of the entropy bottleneck's quantiles")
    t.add_argument("--low", type=float, nargs="+", default=None, help="normalisation range: scalar or one per channel")
    t.add_argument("--high", type=float, nargs="+", default=None)
    t.add_argument("--layout", default=None, help="packing layout (llama3, dinov2, sd3, generic); default: the task's")
    t.add_argument("--val-fraction", type=float, default=0.1,
                   help="share of --features held out for validation when --val-features is not given")
    t.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    t.add_argument("--workers", type=int, default=0, help="data-loader worker processes")
    t.add_argument("--no-resume", action="store_true", help="start over even if OUT/last.pt exists")
    t.add_argument("--no-plot", action="store_true", help="write no training-curve PNG")
    t.add_argument("--quiet", action="store_true", help="no settings header, progress lines or time estimates")
    t.add_argument("--json", action="store_true", help="print the result as JSON")
    t.set_defaults(func=cmd_train)

    i = hsub.add_parser("import", help="import a published pretrained hyperprior (the reference's CompressAI checkpoint)",
                        description="Convert a reference checkpoint (hyperprior_lambda<L>_epoch<E>_..._checkpoint.pth.tar "
                                    "in a trunl<low>_trunh<high>_... folder) into an fcbench checkpoint. Lambda and range "
                                    "come from the names unless given, and are checked against the test conditions.")
    i.add_argument("ckpt", help="the checkpoint file (or s3:// URI)")
    i.add_argument("--model", required=True)
    i.add_argument("--task", required=True)
    i.add_argument("--lambda", dest="lmbda", type=float, default=None, help="default: from the file name")
    i.add_argument("--low", type=float, nargs="+", default=None, help="default: from the folder name")
    i.add_argument("--high", type=float, nargs="+", default=None)
    i.add_argument("--out", type=Path, required=True, help="the fcbench checkpoint to write (a file, or a folder)")
    i.add_argument("--allow-nonstandard", action="store_true",
                   help="import a lambda, range or size the test conditions do not have (noted, not refused)")
    i.add_argument("--register", action="store_true", help="register it in the MLflow model registry")
    i.add_argument("--mlflow", default=None, help="tracking URI for --register (default: MLFLOW_TRACKING_URI or local sqlite)")
    i.set_defaults(func=cmd_import)

    s = hsub.add_parser("split", help="split a feature set into train/ and val/ feature sets (seeded)")
    s.add_argument("--features", type=str, required=True)
    s.add_argument("--out", type=output_folder, required=True, help="writes OUT/train and OUT/val")
    s.add_argument("--val-fraction", type=float, default=0.1)
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=cmd_split)


def cmd_train(args: argparse.Namespace) -> int:
    stage_inputs(args, "features")
    from fcbench.codecs.hyperprior import train

    result = train(
        args.features, args.out, args.lmbda, aux_lr=args.aux_lr, val_fraction=args.val_fraction,
        val_features=args.val_features, low=scalar_or_list(args.low), high=scalar_or_list(args.high),
        layout=args.layout, task=args.task, arch=args.arch, device=args.device, resume=not args.no_resume,
        progress=not args.quiet, crops_per_epoch=args.crops_per_epoch, num_workers=args.workers,
        plot=not args.no_plot, preset=args.preset, **training_flags(args),
    )
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
        return 0
    print(f"checkpoint: {result.checkpoint} ({result.evaluate})")
    print(f"last: {result.last}\nbest: {result.best}\nplot: {result.plot}")
    print("epoch  step  train_loss  train_bpp  train_mse  val_loss  val_bpp  val_mse  lr")
    for c in result.curves[-5:]:
        print(f"{c['epoch']:5d} {c['step']:5d} {c['train_loss']:11.4g} {c['train_bpp']:10.4g} {c['train_mse']:10.3g} "
              f"{c['val_loss']:9.4g} {c['val_bpp']:8.4g} {c['val_mse']:8.3g}  {c['lr']:.2g}")
    return 0


def cmd_split(args: argparse.Namespace) -> int:
    stage_inputs(args, "features")
    from fcbench.codecs.hyperprior.data import build_training_sets

    tr, va = build_training_sets(args.features, args.out / "train", args.out / "val", args.val_fraction, args.seed)
    print(f"train: {tr.root} ({len(tr)} samples)\nval: {va.root} ({len(va)} samples)")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    stage_inputs(args, "ckpt")
    from fcbench.codecs.hyperprior.reference import default_out_name, import_checkpoint

    out = args.out
    if out.is_dir():
        lmbda = args.lmbda
        if lmbda is None:
            from fcbench.codecs.hyperprior.reference import parse_names

            lmbda = parse_names(args.ckpt).lmbda
        if lmbda is None:
            raise ValueError(f"{args.ckpt}: no lambda in its name; give --lambda")
        out = out / default_out_name(lmbda, args.model, args.task)
    tracker = None
    if args.register:
        from fcbench.components.tracking import Tracker

        tracker = Tracker(args.mlflow)  # fails fast, naming the URI, before any work
    result = import_checkpoint(args.ckpt, args.model, args.task, out, args.lmbda, scalar_or_list(args.low),
                               scalar_or_list(args.high), strict=not args.allow_nonstandard)
    for note in result.notes:
        print(f"note: {note}")
    print(f"imported {args.ckpt} (sha256 {result.source_sha256[:16]}..., epoch {result.epoch}) -> {result.path}: "
          f"{args.model}/{args.task} lambda {result.lmbda:g}, range {result.low}..{result.high}, {result.config}")
    if tracker is not None:
        uri = tracker.log_training(args.model, args.task, result.lmbda, [], result.path, kind="import",
                                   config={"source_sha256": result.source_sha256, "source_file": Path(args.ckpt).name,
                                           "source_epoch": result.epoch, "low": result.low, "high": result.high,
                                           **result.config})
        print(f"registered: {uri}")
    return 0
