"""Pipeline commands: `fcbench run PIPELINE --local`, `fcbench compile`, `fcbench submit`,
`fcbench demo`.

Pipeline parameters come from friendly flags (--model, --codec, --qp, ...) or generic
`--param NAME=VALUE` (VALUE parsed as JSON when it is JSON, else taken as a string); unknown
names are refused with the pipeline's parameter list.
"""
from __future__ import annotations

import argparse
import importlib
import json
import socket
import sys
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlparse

from fcbench.codecs import settings
from fcbench.codecs.presets import get_preset, preset_names
from fcbench.pipelines.commands.options import add_training_flags, output_folder, parse_options, parse_value, training_flags

PIPELINES: dict[str, tuple[str, str]] = {
    "benchmark": ("fcbench.pipelines.benchmark", "benchmark"),
    "benchmark-traditional": ("fcbench.pipelines.benchmark", "benchmark_traditional"),
    "train_hyperprior": ("fcbench.pipelines.train_hyperprior", "train_hyperprior"),
    "full": ("fcbench.pipelines.full", "full"),
}
ALIASES = {"train-hyperprior": "train_hyperprior", "benchmark_traditional": "benchmark-traditional"}
IMAGE_FLAGS = {"image_registry": settings.IMAGE_REGISTRY, "image_tag": settings.IMAGE_TAG,
               "codec_image": settings.CODEC_IMAGE, "gpu_image": settings.GPU_IMAGE}


def load_pipeline(name: str) -> Callable:
    """The pipeline function registered as `name`."""
    key = ALIASES.get(name, name)
    if key not in PIPELINES:
        raise KeyError(f"unknown pipeline {name!r}; available: {', '.join(PIPELINES)}")
    module, attr = PIPELINES[key]
    return getattr(importlib.import_module(module), attr)


def pipeline_parameters(pipeline: Callable) -> list[str]:
    return list(pipeline.component_spec.inputs or {})


# ---- parameters -------------------------------------------------------------------------------
def _codec_entry(text: str) -> dict:
    """NAME or NAME:{json options} -> {codec, options, identity_hash} built here. The key
    "chain" of the JSON is the entry's chain spec, not a codec option
    (x265:{"chain": {"outliers": true}}: x265 with the outlier side channel)."""
    from fcbench.codecs import chain
    from fcbench.pipelines.benchmark import codec_spec

    name, _, opts = text.partition(":")
    options = json.loads(opts) if opts else {}
    if not isinstance(options, dict):
        raise ValueError(f"--codec {text!r}: options must be a JSON object")
    spec = chain.check(options.pop("chain", None))
    return {**codec_spec(name, **options), **({"chain": spec} if spec else {})}


def _hyperprior_entry(text: str) -> dict:
    """LAMBDA=URI -> a benchmark `hyperprior` entry. For a local checkpoint the identity (its
    sha256, config, lambda) is computed here and checked by the task; a remote one is identified
    by the imported Model artifact only."""
    from fcbench.pipelines.benchmark import codec_spec

    lmbda, sep, uri = text.partition("=")
    if not sep or not uri:
        raise ValueError(f"--hyperprior {text!r}: expected LAMBDA=CHECKPOINT_URI")
    identity_hash = codec_spec("hyperprior", checkpoint=uri, device="cpu")["identity_hash"] if Path(uri).is_file() else ""
    return {"codec": "hyperprior", "rate_point": float(lmbda), "uri": uri, "identity_hash": identity_hash}


def collect_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """Pipeline arguments from the flags (only those given)."""
    out: dict[str, Any] = {}
    simple = {"model": "model", "task": "task", "weights": "weights_uri", "data": "data_uri",
              "sample_list": "sample_list_uri", "features": "features_uri", "train_data": "train_data_uri",
              "train_sample_list": "train_sample_list_uri", "train_features": "train_features_uri",
              "anchor": "anchor", "title": "title", "tracking_uri": "tracking_uri", "storage_uri": "storage_uri"}
    for flag, param in simple.items():
        value = getattr(args, flag, None)
        if value is not None:
            out[param] = value
    if args.option:
        out["machine_options"] = json.dumps(parse_options(args.option))
    if args.codec:
        out["codecs"] = [_codec_entry(c) for c in args.codec]
    if args.qp:
        out["qps"] = list(args.qp)
    if args.lmbda:
        out["lambdas"] = list(args.lmbda)
    if args.hyperprior:
        out["hyperprior"] = [_hyperprior_entry(h) for h in args.hyperprior]
    if args.legacy:
        out["legacy"] = True
    out.update(training_flags(args))
    if args.preset:
        out["preset"] = args.preset
        preset = get_preset(args.preset)
        if preset.codec and not args.codec:  # the reference chain's codec (VTM must be found here)
            out["codecs"] = [_codec_entry(preset.codec)]
    for item in args.param or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--param {item!r}: expected NAME=VALUE")
        out[key] = parse_value(value)
    return out


def resolve(name: str, arguments: dict[str, Any]) -> tuple[str, Callable]:
    """The pipeline to run for `name` and these arguments; refuses unknown parameters."""
    key = ALIASES.get(name, name)
    if key == "benchmark" and not arguments.get("hyperprior"):
        # No checkpoints: the variant without the learned branch (see build_benchmark).
        key = "benchmark-traditional"
        arguments.pop("hyperprior", None)
    pipeline = load_pipeline(key)
    known = pipeline_parameters(pipeline)
    unknown = sorted(set(arguments) - set(known))
    if unknown:
        raise ValueError(f"pipeline {key} has no parameter(s) {unknown}; its parameters: {', '.join(known)}")
    return key, pipeline


# ---- commands ---------------------------------------------------------------------------------
def _add_params(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("pipeline parameters")
    g.add_argument("--model")
    g.add_argument("--task")
    g.add_argument("--weights", help="machine weights: local path or s3:// URI")
    g.add_argument("--data", help="task data folder: local path or s3:// URI")
    g.add_argument("--sample-list", dest="sample_list")
    g.add_argument("--features", help="import this feature set instead of extracting")
    g.add_argument("--train-data", dest="train_data")
    g.add_argument("--train-sample-list", dest="train_sample_list")
    g.add_argument("--train-features", dest="train_features")
    g.add_argument("--option", action="append", metavar="KEY=VALUE", help="machine option (repeatable)")
    g.add_argument("--codec", action="append", metavar="NAME[:JSON]",
                   help='traditional codec (repeatable); JSON: its options, plus "chain": {...} for the '
                        'outlier side channel or fitted ranges (docs/codecs.md)')
    g.add_argument("--qp", action="append", type=int, help="QP (repeatable; default: test conditions)")
    g.add_argument("--lambda", dest="lmbda", action="append", type=float, help="hyperprior lambda (repeatable)")
    g.add_argument("--hyperprior", action="append", metavar="LAMBDA=URI",
                   help="trained checkpoint (benchmark): path, s3:// or models:/<name>/<version>")
    add_training_flags(p.add_argument_group("training settings (train_hyperprior, full; default: the test conditions')"))
    g.add_argument("--legacy", action="store_true", help="the reference's floor quantization")
    g.add_argument("--preset", choices=preset_names(),
                   help="fcbench (default) or paper: the reference chain (floor quantization, VTM as codec when no "
                        "--codec is given, VTM as anchor); named in every result (docs/test-conditions.md §7)")
    g.add_argument("--anchor")
    g.add_argument("--title")
    g.add_argument("--tracking-uri", dest="tracking_uri")
    g.add_argument("--storage-uri", dest="storage_uri",
                   help="also publish every stage's outputs there (s3://bucket/prefix or a folder); default: local only")
    g.add_argument("--param", action="append", metavar="NAME=VALUE", help="any pipeline parameter (JSON value)")


def _add_images(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("images (default: components/stages/container_images.py settings)")
    g.add_argument("--image-registry", dest="image_registry")
    g.add_argument("--image-tag", dest="image_tag")
    g.add_argument("--codec-image", dest="codec_image", help="full reference, e.g. reg/fcbench-codec@sha256:...")
    g.add_argument("--gpu-image", dest="gpu_image")


def _apply_images(args: argparse.Namespace) -> None:
    """Image settings are read when the component modules are first imported: set them first."""
    given = {setting: getattr(args, flag) for flag, setting in IMAGE_FLAGS.items() if getattr(args, flag, None)}
    if given and "fcbench.components.stages.extract" in sys.modules:
        raise RuntimeError("image settings must be given before the pipelines are imported (use a fresh process)")
    settings.export(given)


def register(sub: argparse._SubParsersAction) -> None:
    names = ", ".join(PIPELINES)
    p = sub.add_parser("run", help=f"run a pipeline with the kfp local runner ({names})")
    p.add_argument("pipeline")
    p.add_argument("--local", action="store_true", required=True, help="kfp local runner (the only mode of run)")
    p.add_argument("--out", type=output_folder, default=Path("fcbench-out/runs"), help="pipeline root and outputs")
    p.add_argument("--no-cache", action="store_true", help="rerun every task")
    _add_params(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("compile", help="compile a pipeline to YAML (upload it in the Kubeflow UI)")
    p.add_argument("pipeline")
    p.add_argument("-o", "--output", type=Path, required=True)
    _add_images(p)
    p.set_defaults(func=cmd_compile)

    p = sub.add_parser("submit", help="submit a pipeline run to Kubeflow Pipelines (kfp.Client)")
    p.add_argument("pipeline")
    p.add_argument("--host", required=True, help="KFP API endpoint, e.g. http://localhost:8080")
    p.add_argument("--experiment", default="fcbench")
    p.add_argument("--run-name")
    p.add_argument("--namespace")
    p.add_argument("--no-cache", action="store_true")
    _add_params(p)
    _add_images(p)
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("demo", help="the whole benchmark on tiny models, locally, in minutes")
    p.add_argument("--out", type=output_folder, default=Path("fcbench-out/demo"))
    p.add_argument("--no-cache", action="store_true")
    p.add_argument("--no-tracking", action="store_true", help="skip the local MLflow store")
    p.set_defaults(func=cmd_demo)


def cmd_run(args: argparse.Namespace) -> int:
    from fcbench.pipelines.local import run_local

    arguments = collect_arguments(args)
    name, pipeline = resolve(args.pipeline, arguments)
    log = args.out.resolve() / "kfp-local.log"
    print(f"running {name} with the kfp local runner (task logs: {log})", flush=True)
    run = run_local(pipeline, arguments, args.out, cache=not args.no_cache, log_path=log)
    print(f"pipeline {name} finished in {run.wall_s:.1f} s; artifacts: {run.run_dir}")
    try:
        print(f"report: {run.report_dir}\n")
        print(run.table)
    except FileNotFoundError:  # train_hyperprior has no report: list its models
        for model in run.outputs("hyperprior-train", "model"):
            print(f"model: {model}")
    return 0


def cmd_compile(args: argparse.Namespace) -> int:
    from kfp import compiler

    _apply_images(args)
    pipeline = load_pipeline(args.pipeline)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(pipeline, str(args.output))
    print(f"{args.output}: pipeline {args.pipeline} (upload it in the Kubeflow Pipelines UI)")
    return 0


def check_host(host: str, timeout: float = 3.0) -> None:
    """Fail fast with the endpoint named (kfp.Client would otherwise retry for a long time)."""
    parsed = urlparse(host if "://" in host else f"http://{host}")
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(f"--host {host!r} is not an http(s) URL")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=timeout):
            pass
    except OSError as exc:
        raise RuntimeError(f"Kubeflow Pipelines at {host} is unreachable: {exc}") from exc


def cmd_submit(args: argparse.Namespace) -> int:
    import kfp

    from fcbench.components import cluster

    _apply_images(args)
    arguments = collect_arguments(args)
    name, pipeline = resolve(args.pipeline, arguments)
    check_host(args.host)
    client = kfp.Client(host=args.host, namespace=args.namespace or cluster.DEFAULT_NAMESPACE)
    result = client.create_run_from_pipeline_func(
        pipeline, arguments=arguments, run_name=args.run_name, experiment_name=args.experiment,
        namespace=args.namespace or cluster.DEFAULT_NAMESPACE, enable_caching=not args.no_cache,
        service_account=cluster.SERVICE_ACCOUNT)
    print(f"submitted {name}: run {result.run_id} in experiment {args.experiment} at {args.host}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from fcbench.pipelines.demo import DemoSettings, run_demo

    print(f"fcbench demo: tiny DINOv2 cls, x265 at 5 QPs + hyperprior at 3 lambdas -> {args.out.resolve()}\n"
          f"(task logs: {args.out.resolve() / 'kfp-local.log'})", flush=True)
    result = run_demo(args.out, DemoSettings(tracking=not args.no_tracking), cache=not args.no_cache)
    print(result.table)
    print(f"\nfinished in {result.wall_s:.1f} s. Written:")
    for what, path in result.where.items():
        print(f"  {what}: {path}")
    return 0
