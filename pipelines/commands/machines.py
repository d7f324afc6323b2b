"""Machine commands: `fcbench extract` (features at the split point) and `fcbench evaluate`
(task metrics of a reconstructed feature set, as JSON)."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from fcbench.codecs.common import atomic, settings
from fcbench.codecs.common.types import BadArgument
from fcbench.pipelines.commands.options import output_file, output_folder, parse_options
from fcbench.pipelines.commands.uris import stage_inputs


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="e.g. dinov2")
    p.add_argument("--task", required=True, help="e.g. cls, seg, dpt")
    p.add_argument("--weights", default=settings.WEIGHTS.get(),
                   help="folder with the official checkpoint files, an HF directory, or a staged URI (env FCBENCH_WEIGHTS)")
    p.add_argument("--data", type=str, default=settings.DATA.get(), help="test-set folder or s3:// prefix (env FCBENCH_DATA)")
    p.add_argument("--sample-list", type=str, help="custom sample list (default: the task's official list)")
    p.add_argument("--device", help="auto (GPU if present; the machines' default), cpu, cuda, cuda:1 ...")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="extra machine option, repeatable (e.g. num_heads=4)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("extract", help="run a model's first half and write a feature set")
    _common(p)
    p.add_argument("--out", type=output_folder, required=True, help="feature-set folder (resumes if it exists)")
    p.add_argument("--limit", type=int, help="only the first N samples")
    p.add_argument("--source", choices=("test", "folder"), default="test", help="folder: every image under --data (training features)")
    p.set_defaults(func=cmd_extract)

    p = sub.add_parser("evaluate", help="evaluate a (reconstructed) feature set; prints JSON metrics")
    _common(p)
    p.add_argument("--features", type=str, required=True, help="feature-set folder to evaluate")
    p.add_argument("--reference", type=str, help="the original feature set: adds feature_mse; required by sd3/tti, "
                                                  "whose FID compares with the images of the original latents")
    p.add_argument("--out", type=output_file, help="also write the JSON here (atomically)")
    p.set_defaults(func=cmd_evaluate)


def _machine(args: argparse.Namespace):
    from fcbench.codecs.conditions import load_conditions

    # Every machine has test conditions (tests/codecs/core/test_registries_agree.py): a wrong
    # model or task is named from them, before torch and the model code load (seconds).
    load_conditions().get(args.model, args.task)
    from fcbench.machines import get_machine

    stage_inputs(args, "weights", "data", "sample_list", "features", "reference")

    if not args.weights:
        raise BadArgument("--weights is required (or set FCBENCH_WEIGHTS)")
    if not args.data:
        raise BadArgument("--data is required (or set FCBENCH_DATA)")
    # pass only what was asked for: machines of other models need not know every knob
    options: dict[str, Any] = {}
    if args.device:
        options["device"] = args.device
    if args.no_progress:
        options["progress"] = False
    options.update(parse_options(args.option))
    if args.batch_size:
        options["batch_size"] = args.batch_size
    if args.sample_list:
        options["sample_list"] = args.sample_list
    return get_machine(args.model, args.task, weights=args.weights, **options)


def cmd_extract(args: argparse.Namespace) -> int:
    machine = _machine(args)
    kwargs: dict[str, Any] = {"source": args.source}
    if args.limit is not None:
        kwargs["limit"] = args.limit
    fs = machine.extract(args.data, args.out, **kwargs)
    print(f"{len(fs)} samples of {args.model}/{args.task} ({fs.meta.get('split_point')}) in {fs.root}", file=sys.stderr)
    print(fs.root)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from fcbench.components.rd_join import evaluation_doc
    from fcbench.machines.base import machine_needs_reference

    if not args.reference and machine_needs_reference(args.model, args.task):
        raise ValueError(f"{args.model}/{args.task} needs --reference: the original feature set (its metric "
                         f"compares with what the original features give; give the set itself for the uncompressed point)")
    machine = _machine(args)
    ev = machine.evaluate(args.features, args.data, reference=args.reference)
    # The evaluation document `fcbench report` joins with the sweep's rate rows (codec, rate
    # point and samples named), the same join the pipeline's evaluate stage makes.
    body = evaluation_doc(args.model, args.task, args.features, ev)
    if args.out:  # the document goes to the file; the terminal gets what it says in one line
        atomic.write_json(args.out, body)
        primary = ev.primary
        print(f"{args.model}/{args.task} {body['label']}"
              + (f" at {body['rate_point']}" if body.get("rate_point") is not None else "")
              + f": {primary.name} {primary.value:.6g} ({primary.direction} is better) on {len(body['samples'])} "
                f"samples -> {args.out}")
        return 0
    print(json.dumps(atomic.strict_json(body), indent=2, allow_nan=False))  # strict JSON, as the file
    return 0
