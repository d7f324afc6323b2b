"""Codec commands: `fcbench encode` (= `fcbench codec run`), `fcbench codec list`, `fcbench codec decode`.

A sweep codes a feature set with one codec at several rate points, in parallel and cached
(fcbench.codecs.sweeps.run), and prints the summary table. Conditions come from explicit ranges,
else the test conditions of --model/--task, else those of the feature set's own model/task.
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from typing import Literal, Union

from fcbench.codecs.common.types import BadArgument
from fcbench.codecs.presets import QUANTIZATIONS, get_preset, preset_names
from fcbench.pipelines.commands.options import bit_depth, output_file, output_folder, parse_options, scalar_or_list
from fcbench.pipelines.commands.uris import stage_inputs


def _add_sweep_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--features", type=str, required=True, help="feature-set folder (manifest.json + <sample>.npy)")
    p.add_argument("--codec", required=True, help="registered codec name (see `fcbench codec list`)")
    rates = p.add_mutually_exclusive_group()
    rates.add_argument("--qp", type=int, nargs="+",
                       help="VTM QPs; a codec whose rate point is not a QP maps them (av1: to CRFs)")
    rates.add_argument("--rate-points", nargs="+", help="the codec's own rate points (QPs, av1 CRFs, lambdas...)")
    p.add_argument("--out", type=output_folder, required=True, help="output folder (bitstreams/, recon/, results.*)")
    p.add_argument("-j", "--jobs", type=int, default=None, help="parallel jobs (default: all cores)")
    p.add_argument("--model", help="take conditions from the test conditions of MODEL TASK")
    p.add_argument("--task")
    p.add_argument("--low", type=float, nargs="+", help="truncation low (scalar or one per channel)")
    p.add_argument("--high", type=float, nargs="+", help="truncation high")
    p.add_argument("--bit-depth", type=bit_depth, default=None, help="sample bit depth (default 10)")
    p.add_argument("--layout", default=None, help="packing layout (llama3, dinov2, sd3, generic)")
    p.add_argument("--no-truncate", action="store_true", help="quantize without clipping")
    p.add_argument("--quantization", choices=QUANTIZATIONS, default=None,
                   help="round (to nearest) or legacy (the reference's floor); default: the preset's")
    p.add_argument("--preset", default=None, choices=preset_names(),
                   help="fcbench (default: round to nearest) or paper (the reference chain: floor quantization; "
                        "its codec is vtm); docs/test-conditions.md §7")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="codec option (value parsed as JSON when it is, e.g. preset=fast, level=19)")
    add_chain_arguments(p)
    p.add_argument("--cache-dir", type=output_folder, default=None, help="job cache (default OUT/cache)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_encode)


def add_chain_arguments(p: argparse.ArgumentParser) -> None:
    """The chain options (fcbench.codecs.chain): outlier side channel and fitted ranges."""
    g = p.add_argument_group("chain", "beyond the paper's chain (docs/codecs.md, 'Outliers and fitted ranges')")
    g.add_argument("--outliers", action="store_true",
                   help="send values outside the truncation range in the outlier side channel")
    g.add_argument("--outlier-bits", type=int, default=None, help="precision of outlier values (default: bit depth)")
    g.add_argument("--outlier-fill", choices=("median", "clip"), default=None,
                   help="frame value at outlier positions (default median)")
    g.add_argument("--ranges", type=str, default=None, metavar="FILE",
                   help="fitted range table (`fcbench ranges fit`) instead of the fixed range")


def effective_chain(args: argparse.Namespace, preset) -> dict:
    """The chain coded with: the preset's, with the command line's chain options on top."""
    return {**preset.chain, **chain_spec(args)}


def chain_spec(args: argparse.Namespace) -> dict:
    """The chain spec of the command line's chain options."""
    spec: dict = {}
    if args.outliers:
        spec["outliers"] = True
    if args.outlier_bits is not None:
        spec["outlier_bits"] = args.outlier_bits
    if args.outlier_fill is not None:
        spec["outlier_fill"] = args.outlier_fill
    if args.ranges:
        if args.low is not None:
            raise ValueError("give --ranges or --low/--high, not both")
        spec["ranges"] = args.ranges
    return spec


def register(sub: argparse._SubParsersAction) -> None:
    _add_sweep_arguments(sub.add_parser("encode", help="code a feature set with one codec at several rate points"))
    codec = sub.add_parser("codec", help="codec sweeps, listing and decoding")
    codec_sub = codec.add_subparsers(dest="codec_command", metavar="SUBCOMMAND")
    _add_sweep_arguments(codec_sub.add_parser("run", help="same as `fcbench encode`"))
    p = codec_sub.add_parser("list", help="registered codecs and whether their binaries are found")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)
    p = codec_sub.add_parser("identity", help="identity (version, binary/cfg sha256, options) and identity hash of "
                                              "codecs as built here; what a pipeline's resolve_codecs task records")
    p.add_argument("codecs", nargs="+", metavar="NAME[:JSON]", help="codec name, optionally with JSON options")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_identity)
    p = codec_sub.add_parser("decode", help="decode an fcbench container to a .npy feature")
    p.add_argument("container", type=Path)
    p.add_argument("-o", "--out", type=output_file, required=True)
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE")
    p.set_defaults(func=cmd_decode)
    codec.set_defaults(func=lambda args: (codec.print_help(), 2)[1])


def parse_rate_point(text: str) -> Union[int, float]:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"rate point {text!r} is not a number") from None


def resolve_conditions(args: argparse.Namespace, frame_kind: str) -> tuple[dict, list]:
    """(conditions for Codec.encode, default rate points from the test conditions or []),
    under the preset of `args.preset` (its quantization unless --quantization names one)."""
    from fcbench.codecs.conditions import load_conditions
    from fcbench.codecs.features.featureset import FeatureSet

    preset = get_preset(args.preset)
    quantization = preset.quantization_or(args.quantization)
    family: Literal["traditional", "learned"] = "learned" if frame_kind == "unit" else "traditional"
    if (args.low is None) != (args.high is None):
        raise ValueError("give both --low and --high")
    if (args.model is None) != (args.task is None):
        raise ValueError("give both --model and --task")
    defaults: list = []
    if args.low is not None:
        conds: dict = {"low": scalar_or_list(args.low), "high": scalar_or_list(args.high), "layout": args.layout or "generic"}
        if family == "traditional":
            conds.update(bit_depth=10 if args.bit_depth is None else args.bit_depth, quant=quantization)
    else:
        model, task = args.model, args.task
        if model is None:
            meta = FeatureSet.open(args.features).meta
            model, task = meta.get("model"), meta.get("task")
        try:
            tc = load_conditions().get(model, task)
        except KeyError as exc:
            raise ValueError(f"no truncation range: give --low/--high or --model/--task ({exc.args[0]})") from None
        conds = preset.conditions(tc, family, quantization=quantization)
        defaults = list(tc.traditional.qps if family == "traditional" else tc.learned.lambdas)
        if args.layout:
            conds["layout"] = args.layout
        if args.bit_depth is not None and family == "traditional":
            conds["bit_depth"] = args.bit_depth
    if args.no_truncate:
        conds["truncate"] = False
    from fcbench.codecs import chain

    return chain.apply(conds, effective_chain(args, preset)), defaults


def cmd_encode(args: argparse.Namespace) -> int:
    stage_inputs(args, "features", "ranges")
    from fcbench.codecs import chain
    from fcbench.codecs.registry import codec_class
    from fcbench.codecs.sweeps.run import SweepError, SweepInterrupted, run_sweep
    from fcbench.components.inputs import staged_codec_options

    cls = codec_class(args.codec)
    conditions, defaults = resolve_conditions(args, cls.frame_kind)
    preset = get_preset(args.preset)
    spec = effective_chain(args, preset)
    if preset.codec and cls.frame_kind == "integer" and args.codec != preset.codec:
        print(f"note: preset {preset.name} is the reference chain with {preset.codec}; coding with {args.codec}",
              file=sys.stderr)
    if preset.codec and spec != preset.chain:  # a preset that reproduces a source
        print(f"note: preset {preset.name} codes with the chain {preset.chain or '{} (fixed ranges, no side channel)'}; "
              f"coding with {chain_spec(args)}", file=sys.stderr)
    if preset.vtm_cfg_sha256 and args.codec == "vtm":
        from fcbench.codecs.backends.vtm import VTMCodec
        from fcbench.codecs.registry import get_codec

        vtm = get_codec("vtm", **parse_options(args.option))
        if isinstance(vtm, VTMCodec) and vtm.cfg_sha256() != preset.vtm_cfg_sha256:
            print("note: the VTM cfg in use is not the reference's all-intra cfg (see fcbench doctor)", file=sys.stderr)
    if args.rate_points:
        rate_points = [parse_rate_point(r) for r in args.rate_points]
    elif args.qp or defaults:
        qps = list(args.qp or defaults)
        # VTM QPs (given, or the test conditions' traditional ones): a codec with another rate unit maps them
        rate_points = cls.rate_points_for_qps(qps) if cls.frame_kind == "integer" else qps
        if cls.rate_unit != "qp" and cls.frame_kind == "integer":
            print(f"note: {args.codec} rate points are {cls.rate_unit} values: QPs {qps} -> {cls.rate_unit} "
                  f"{rate_points}", file=sys.stderr)
    else:
        raise ValueError("no rate points: give --qp or --rate-points")
    try:
        options = staged_codec_options(args.codec, parse_options(args.option))  # s3:// tables -> local files
        _check_rate_points(args.codec, options, rate_points)
        result = run_sweep(args.features, args.codec, options, rate_points, conditions,
                           args.out, jobs=args.jobs, progress=not args.no_progress, cache_dir=args.cache_dir,
                           preset=preset.name, label=chain.label(args.codec, spec))
    except SweepError as exc:
        _print_result(exc.result, args.json, conditions)
        print(f"fcbench encode: error: {exc}", file=sys.stderr)
        return 1
    except SweepInterrupted as exc:  # SIGTERM / Ctrl-C: finished jobs are kept, the shell sees the signal
        _print_result(exc.result, args.json, conditions)
        print(f"fcbench encode: {exc}", file=sys.stderr)
        return 128 + signal.Signals[exc.signal].value if exc.signal in signal.Signals.__members__ else 130
    _print_result(result, args.json, conditions)
    return 0


def _print_result(result, as_json: bool, conditions: dict) -> None:
    from fcbench.codecs import chain

    described = chain.describe(conditions)
    if as_json:
        print(json.dumps({"summary": result.summary, "cache_hits": result.cache_hits, "jobs_run": result.jobs_run,
                          "failures": result.failures, "out": str(result.out_dir), "chain": described,
                          "threads": result.threads.as_dict() if result.threads else None},
                         indent=2, default=str))
        return
    print(result.table())
    print("chain: " + ", ".join(f"{k[len('chain.'):]} {v}" for k, v in described.items()))
    print(f"{len(result.rows)} results ({result.cache_hits} from cache, {result.jobs_run} jobs run) "
          f"in {result.wall_s:.1f} s -> {result.out_dir}")
    if result.threads and result.jobs_run:  # what the enc_s/dec_s columns were measured under
        print(f"timed with {result.threads.describe()}")


def cmd_list(args: argparse.Namespace) -> int:
    from fcbench.codecs.registry import codec_class, codec_names, codec_origin, plugin_errors

    rows = {}
    for name in codec_names():
        cls = codec_class(name)
        row = {"frame_kind": cls.frame_kind, "rate_unit": cls.rate_unit, "origin": codec_origin(name)}
        try:
            rows[name] = {**row, "version": cls().identity["version"], "ready": True}
        except Exception as exc:  # report why a codec cannot encode here, never crash the listing
            rows[name] = {**row, "ready": False, "why": f"{type(exc).__name__}: {exc}"}
    for name, why in plugin_errors().items():  # installed, but its plug-in cannot be used
        key = f"plug-in:{name}" if name in rows else name  # a plug-in clashing with a built-in name
        rows[key] = {"frame_kind": None, "rate_unit": None, "origin": "plug-in", "ready": False, "why": why}
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for name, row in sorted(rows.items()):
        state = row.get("version") if row["ready"] else "not ready: " + row["why"].splitlines()[0]
        print(f"{name:12s} {row['frame_kind'] or '-':8s} {row['rate_unit'] or '-':7s} {state}  [{row['origin']}]")
    return 0


def cmd_identity(args: argparse.Namespace) -> int:
    from fcbench.components.codec_identity import parse_codec_entry, resolve_identity

    resolved = []
    for text in args.codecs:
        spec = parse_codec_entry(text)
        resolved.append(resolve_identity(spec["codec"], spec["options"]))
    if args.json:
        print(json.dumps(resolved, indent=2, default=str))
        return 0
    for r in resolved:
        print(f"{r['codec']}: {r['identity_hash']}")
        for key, value in r["identity"].items():
            print(f"  {key}: {value}")
    return 0


def cmd_decode(args: argparse.Namespace) -> int:
    import numpy as np

    from fcbench.codecs.chain.container import unpack_container
    from fcbench.codecs.common import atomic
    from fcbench.codecs.registry import get_codec

    data = args.container.read_bytes()
    header, _ = unpack_container(data)
    feature = get_codec(header.codec, **parse_options(args.option)).decode(data)
    atomic.write_npy(args.out, feature)
    print(f"{args.out}: {tuple(feature.shape)} {np.asarray(feature).dtype} ({header.codec} at rate point {header.rate_point})")
    return 0


def _check_rate_points(codec: str, options: dict, rate_points: list) -> None:
    """A rate point the codec cannot take is the command line's fault (exit 2), found before any job."""
    from fcbench.codecs.sweeps.job import codec_for  # the sweep reuses this codec object

    built = codec_for(codec, options)
    for rate_point in rate_points:
        try:
            built.check_rate_point(rate_point)
        except ValueError as exc:
            raise BadArgument(str(exc)) from None
