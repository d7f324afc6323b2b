"""Pipeline commands: `fcbench run PIPELINE --local`, `fcbench compile`, `fcbench demo`
(`fcbench submit` and `fcbench upload` are in commands/kubeflow.py).

Pipeline parameters come from friendly flags (--model, --codec, --qp, ...) or generic
`--param NAME=VALUE` (VALUE parsed as JSON when it is JSON, else taken as a string); unknown
names are refused with the pipeline's parameter list.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

from fcbench.codecs.common import settings
from fcbench.codecs.presets import QUANTIZATIONS, get_preset, preset_names
from fcbench.pipelines.commands.options import add_training_flags, output_folder, parse_options, parse_value, training_flags

if TYPE_CHECKING:
    from fcbench.pipelines.deployment import Deployment

PIPELINES: dict[str, tuple[str, str, dict]] = {
    "benchmark": ("fcbench.pipelines.benchmark", "build_benchmark", {"learned": True}),
    "benchmark-traditional": ("fcbench.pipelines.benchmark", "build_benchmark", {"learned": False}),
    "train_hyperprior": ("fcbench.pipelines.train_hyperprior", "build_train_hyperprior", {}),
    "full": ("fcbench.pipelines.full", "build_full", {}),
    "fit_klt": ("fcbench.pipelines.fit_klt", "build_fit_klt", {}),
}
ALIASES = {"train-hyperprior": "train_hyperprior", "benchmark_traditional": "benchmark-traditional",
           "fit-klt": "fit_klt"}
IMAGE_FLAGS = {"image_registry": settings.IMAGE_REGISTRY, "image_tag": settings.IMAGE_TAG,
               "codec_image": settings.CODEC_IMAGE, "gpu_image": settings.GPU_IMAGE}


def pipeline_key(name: str) -> str:
    key = ALIASES.get(name, name)
    if key not in PIPELINES:
        raise KeyError(f"unknown pipeline {name!r}; available: {', '.join(PIPELINES)}")
    return key


def load_pipeline(name: str, dep: Optional["Deployment"] = None) -> Callable:
    """The pipeline registered as `name`, built under `dep` (default: the default deployment)."""
    module, factory, kwargs = PIPELINES[pipeline_key(name)]
    return getattr(importlib.import_module(module), factory)(dep=dep, **kwargs)


def pipeline_parameters(pipeline: Callable) -> list[str]:
    return list(pipeline.component_spec.inputs or {})  # type: ignore[attr-defined]  # a kfp pipeline


# ---- parameters -------------------------------------------------------------------------------
def _codec_entry(text: str) -> Any:
    """NAME or NAME:{json options}, checked here; the identity is resolved where the codec runs
    (the pipeline's resolve_codecs task), never on the machine that submits. The key "chain" of
    the JSON is the entry's chain spec, not a codec option (x265:{"chain": {"outliers": true}}:
    x265 with the outlier side channel)."""
    from fcbench.components.codec_identity import parse_codec_entry

    spec = parse_codec_entry(text)
    return spec["codec"] if set(spec) == {"codec", "options"} and not spec["options"] else spec


def _hyperprior_entry(text: str) -> dict:
    """LAMBDA=URI -> a benchmark `hyperprior` entry. For a local checkpoint the identity (its
    sha256, config, lambda) is computed here and checked by the task; a remote one is identified
    by the imported Model artifact only."""
    from fcbench.components.codec_identity import resolve_identity

    lmbda, sep, uri = text.partition("=")
    if not sep or not uri:
        raise ValueError(f"--hyperprior {text!r}: expected LAMBDA=CHECKPOINT_URI")
    pin = resolve_identity("hyperprior", {"checkpoint": uri, "device": "cpu"})["identity_hash"] if Path(uri).is_file() else ""
    return {"codec": "hyperprior", "rate_point": float(lmbda), "uri": uri, "identity_hash": pin}


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
        out["machine_options"] = parse_options(args.option)
    if args.codec:
        out["codecs"] = [_codec_entry(c) for c in args.codec]
    if args.qp:
        out["qps"] = list(args.qp)
    if args.lmbda:
        out["lambdas"] = list(args.lmbda)
    if getattr(args, "offline_dir", None) is not None:
        out["offline_dir"] = args.offline_dir
    if args.hyperprior:
        out["hyperprior"] = [_hyperprior_entry(h) for h in args.hyperprior]
    if args.quantization:
        out["quantization"] = args.quantization
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


def resolve(name: str, arguments: dict[str, Any], dep: Optional["Deployment"] = None,
            exact: bool = False) -> tuple[str, Callable]:
    """The pipeline to run for `name` and these arguments, built under `dep`; refuses unknown
    parameters. `exact`: `name` itself (else `benchmark` without checkpoints runs as
    benchmark-traditional)."""
    key = pipeline_key(name)
    if "model" in arguments or "task" in arguments:  # a wrong name fails here, not deep inside a task
        from fcbench.codecs.conditions import load_conditions
        from fcbench.pipelines.parameters import DEFAULTS

        load_conditions().get(arguments.get("model", DEFAULTS["model"]), arguments.get("task", DEFAULTS["task"]))
    if key == "benchmark" and not arguments.get("hyperprior") and not exact:
        # No checkpoints: the variant without the learned branch (see build_benchmark).
        key = "benchmark-traditional"
        arguments.pop("hyperprior", None)
    pipeline = load_pipeline(key, dep)
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
                        'outlier side channel or fitted ranges (docs/codecs.md); its identity is resolved where it runs')
    g.add_argument("--qp", action="append", type=int, help="QP (repeatable; default: test conditions)")
    g.add_argument("--lambda", dest="lmbda", action="append", type=float, help="hyperprior lambda (repeatable)")
    g.add_argument("--hyperprior", action="append", metavar="LAMBDA=URI",
                   help="trained checkpoint (benchmark): path, s3:// or models:/<name>/<version>")
    add_training_flags(p.add_argument_group("training settings (train_hyperprior, full; default: the test conditions')"))
    g.add_argument("--quantization", choices=QUANTIZATIONS,
                   help="round (to nearest) or legacy (the reference's floor); default: the preset's")
    g.add_argument("--preset", choices=preset_names(),
                   help="fcbench (default) or paper: the reference chain (floor quantization, VTM as codec when no "
                        "--codec is given, VTM as anchor); named in every result (docs/test-conditions.md §7)")
    g.add_argument("--anchor")
    g.add_argument("--title")
    g.add_argument("--tracking-uri", dest="tracking_uri", help="MLflow tracking URI ('off' = no tracking)")
    g.add_argument("--offline-dir", dest="offline_dir",
                   help="journal tracking here while MLflow is unreachable (default: FCBENCH_OFFLINE_DIR/<run>; "
                        "'off' = fail instead)")
    g.add_argument("--storage-uri", dest="storage_uri",
                   help="also publish every stage's outputs there (s3://bucket/prefix or a folder); default: local only")
    g.add_argument("--param", action="append", metavar="NAME=VALUE", help="any pipeline parameter (JSON value)")


def add_images(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("images (default: components/stages/container_images.py settings)")
    g.add_argument("--image-registry", dest="image_registry")
    g.add_argument("--image-tag", dest="image_tag")
    g.add_argument("--codec-image", dest="codec_image", help="full reference, e.g. reg/fcbench-codec@sha256:...")
    g.add_argument("--gpu-image", dest="gpu_image")


def add_deploy(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("deployment (pipelines/deployment.py; docs/cluster.md, Resources)")
    g.add_argument("--deploy", action="append", default=[], metavar="KEY=VALUE",
                   help="STAGE.FIELD=VALUE (e.g. code_traditional.cpu_limit=16, evaluate.memory_limit=64Gi, "
                        "*.retries=0) or a top-level setting (parallelism=4, pull_secrets=a,b, cache_pvc=NAME; '' = none)")
    g.add_argument("--deploy-file", type=Path, metavar="YAML", help="the same settings as a YAML file "
                   "(top-level keys, and stages: {STAGE: {FIELD: VALUE}}); --deploy wins")


def deployment_from_args(args: argparse.Namespace) -> "Deployment":
    """The default deployment with --deploy-file, then --deploy, applied."""
    from fcbench.pipelines.deployment import DEFAULT, load_overrides, with_overrides

    overrides: dict[str, Any] = dict(load_overrides(args.deploy_file)) if getattr(args, "deploy_file", None) else {}
    for item in getattr(args, "deploy", None) or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--deploy {item!r}: expected KEY=VALUE")
        overrides[key.strip()] = value
    return with_overrides(DEFAULT, overrides) if overrides else DEFAULT


def apply_images(args: argparse.Namespace) -> None:
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

    p = sub.add_parser("compile", help="compile a pipeline to YAML (upload it in the Kubeflow UI, or `fcbench upload`)")
    p.add_argument("pipeline")
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--kfp-target", type=_kfp_target, default=None, metavar="VERSION",
                   help="the KFP backend version the YAML is for (default: 2.15 or newer; older ones get the IR "
                        "without the fields they do not know; benchmark pipelines need 2.14, the others 2.4)")
    add_images(p)
    add_deploy(p)
    p.set_defaults(func=cmd_compile)

    p = sub.add_parser("demo", help="the whole benchmark on tiny models, locally, in minutes")
    p.add_argument("--out", type=output_folder, default=Path("fcbench-out/demo"))
    p.add_argument("--no-cache", action="store_true")
    p.add_argument("--no-tracking", action="store_true", help="skip the local MLflow store")
    p.set_defaults(func=cmd_demo)


def cmd_run(args: argparse.Namespace) -> int:
    from fcbench.pipelines.deployment import DEFAULT
    from fcbench.pipelines.local import run_local

    arguments = collect_arguments(args)
    name, pipeline = resolve(args.pipeline, arguments, DEFAULT.for_local())
    log = args.out.resolve() / "kfp-local.log"
    print(f"running {name} with the kfp local runner (task logs: {log}; a line per finished stage)", flush=True)
    run = run_local(pipeline, arguments, args.out, cache=not args.no_cache, log_path=log, progress=sys.stdout)
    print(f"pipeline {name} finished in {run.wall_s:.1f} s; artifacts: {run.run_dir}")
    try:
        print(f"report: {run.report_dir}\n")
        print(run.table)
    except FileNotFoundError:  # train_hyperprior and fit_klt have no report: list what they made
        for model in run.outputs("hyperprior-train", "model"):
            print(f"model: {model}")
        for table in run.outputs("klt-fit", "table"):
            print(f"klt table: {table}")
    return 0


def cmd_compile(args: argparse.Namespace) -> int:
    from kfp import compiler

    apply_images(args)
    pipeline = load_pipeline(args.pipeline, deployment_from_args(args))
    from fcbench.codecs.common import atomic

    atomic.make_folder(args.output.parent)  # a file in the way is named, not "File exists"
    compiler.Compiler().compile(pipeline, str(args.output))
    from fcbench.pipelines import kfp_target

    kfp_target.rewrite(args.output, args.kfp_target, args.pipeline)
    print(f"{args.output}: pipeline {args.pipeline} (upload it in the Kubeflow Pipelines UI)")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from fcbench.pipelines.demo import DemoSettings, run_demo, what_to_open
    from fcbench.pipelines.progress import cpu_seconds

    settings = DemoSettings(tracking=not args.no_tracking)
    print(f"fcbench demo: a tiny random-weight DINOv2 on {settings.n_images} generated images; x265 at 5 QPs, "
          f"av1 at the 5 CRFs they map to and a hyperprior trained at {len(settings.lambdas)} lambdas, every stage a task of the kfp local runner "
          f"(a few minutes; a line per finished stage).\n"
          f"  output: {args.out.resolve()}\n  task logs: {args.out.resolve() / 'kfp-local.log'}", flush=True)
    result = run_demo(args.out, settings, cache=not args.no_cache, progress=sys.stdout)
    print("\n" + result.table)
    print(f"finished in {result.wall_s:.0f} s ({cpu_seconds():.0f} CPU s). Everything is under {result.out_dir}:")
    for what, path in result.where.items():
        print(f"  {what}: {path}")
    print("\n" + what_to_open(result))
    return 0


def _kfp_target(text: str) -> tuple[int, int]:
    from fcbench.pipelines.kfp_target import parse_target

    try:
        return parse_target(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
