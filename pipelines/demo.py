"""`fcbench demo`: the whole benchmark on a laptop, one command, no servers.

A tiny random-weight DINOv2 classification machine on 100 generated images (as many as the
paper's ImageNet test set, so top-1 moves in 1 % steps) -> features -> x265 at the test
conditions' 5 QPs, av1 at the 5 CRFs they map to, and a tiny hyperprior trained for about a minute at 3 lambdas -> evaluate ->
report (RD table, the task metric and the feature PSNR against BPFP, BD-rate on both, speed-ups),
run by the kfp local runner as the `full` pipeline with a local MLflow sqlite store, a line of
progress per finished stage on the terminal. Everything is written under one folder (default
./fcbench-out/demo). The demo trains the hyperpriors on the features of its own test images (it
has no separate training images); real runs pass training inputs (docs/test-conditions.md §5
"feature_train"). The tiny model's labels are its own predictions from the uncompressed features
(fcbench.machines.dinov2.tiny), so the uncompressed top-1 is 100 % and coding shows as a drop.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence, TextIO, Union

DEFAULT_OUT = Path("fcbench-out/demo")
# Above the cls test conditions' lambdas (0.001-0.01, tuned for ViT-g features spanning the
# [-5, 5] range): the tiny model's features (std ~0.75) need larger lambdas for a visible RD curve.
DEMO_LAMBDAS = (0.01, 0.1, 1.0)


@dataclass
class DemoSettings:
    """Sizes that keep the demo within minutes on 2 CPU cores."""

    n_images: int = 100
    qps: Sequence[int] = ()  # () = the test conditions' QPs (22..42)
    lambdas: Sequence[float] = DEMO_LAMBDAS
    steps: int = 300  # optimizer steps per lambda (about 25 s each on 2 cores)
    lr: float = 3e-3  # 30x the reference's 1e-4: a tiny model trained for seconds, not 800 epochs
    batch_size: int = 8
    crop: tuple[int, int] = (64, 64)
    N: int = 16
    M: int = 24
    seed: int = 0
    tracking: bool = True


@dataclass
class DemoResult:
    out_dir: Path
    run_dir: Path
    report_dir: Path
    table: str
    mlflow_uri: Optional[str]
    wall_s: float
    where: dict = field(default_factory=dict)


def demo_arguments(assets: dict, settings: DemoSettings, tracking_uri: str) -> dict:
    """Parameters of the `full` pipeline for the demo."""
    from fcbench.pipelines.parameters import DEFAULTS

    return dict(
        model="dinov2", task="cls", weights_uri=str(assets["weights"]), data_uri=str(assets["data"]),
        sample_list_uri=str(assets["sample_list"]), train_data_uri=str(assets["data"]),
        train_sample_list_uri=str(assets["sample_list"]), machine_options=dict(assets["options"]),
        codecs=DEFAULTS["codecs"], qps=list(settings.qps), lambdas=list(settings.lambdas),
        crop=list(settings.crop), epochs=0, steps=settings.steps, lr=settings.lr, batch_size=settings.batch_size,
        seed=settings.seed, N=settings.N, M=settings.M, evaluate="last", quantization="", anchor="x265",
        title="fcbench demo: tiny DINOv2 cls, x265 and av1 vs hyperprior", tracking_uri=tracking_uri or "off",
    )


def loop_sizes(arguments: dict) -> dict[str, int]:
    """Items of the `full` pipeline's loops for these arguments ([] = the test conditions')."""
    from fcbench.codecs.conditions import load_conditions

    tc = load_conditions().get(arguments["model"], arguments["task"])
    qps = arguments["qps"] or tc.traditional.qps
    return {"codec-x-qp": len(arguments["codecs"]) * len(qps), "lambdas": len(arguments["lambdas"] or tc.learned.lambdas)}


def mlflow_ui_command(tracking_uri: str) -> str:
    """The command that serves the MLflow UI on a local store (the venv's mlflow when there is one)."""
    exe = Path(sys.executable).with_name("mlflow")
    return f"{exe if exe.is_file() else 'mlflow'} ui --backend-store-uri {tracking_uri} --port 5000"


def run_demo(out_dir: Path = DEFAULT_OUT, settings: Optional[DemoSettings] = None, cache: bool = True,
             progress: Optional[TextIO] = None) -> DemoResult:
    """Generate the tiny assets (once), run the `full` pipeline locally (a line per finished
    stage to `progress`), return where things are."""
    from fcbench.machines.dinov2.tiny import make_assets
    from fcbench.pipelines.deployment import DEFAULT
    from fcbench.pipelines.full import build_full
    from fcbench.pipelines.local import run_local

    settings = settings or DemoSettings()
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    assets_dir = out / "assets"
    if progress is not None:
        progress.write(f"making the tiny model's weights and {settings.n_images} images in {assets_dir} ...\n")
        progress.flush()
    assets = make_assets(assets_dir, task="cls", n_images=settings.n_images, seed=settings.seed)
    mlflow_dir = out / "mlflow"
    tracking_uri = f"sqlite:///{mlflow_dir}/mlflow.db" if settings.tracking else ""
    if settings.tracking:
        mlflow_dir.mkdir(parents=True, exist_ok=True)
    log = out / "kfp-local.log"
    arguments = demo_arguments(assets, settings, tracking_uri)
    run = run_local(build_full(DEFAULT.for_local()), arguments, out, cache=cache, log_path=log, progress=progress,
                    loop_sizes=loop_sizes(arguments))
    report_dir = run.report_dir
    where: dict[str, Union[Path, str]] = {
        "assets (tiny weights + images)": assets_dir,
        "pipeline artifacts": run.run_dir,
        "task logs": log,
        "report (Markdown, CSV, RD plot)": report_dir,
        "RD plot": next(iter(sorted(report_dir.glob("rd_*.png"))), report_dir),
    }
    if settings.tracking:
        where["MLflow store"] = tracking_uri
    return DemoResult(out, run.run_dir, report_dir, run.table, tracking_uri or None, run.wall_s, where)


def what_to_open(result: DemoResult) -> str:
    """The demo's last words: the report, the plot and how to see the runs in MLflow."""
    lines = ["Open:", f"  the report:  {result.report_dir / 'report.html'} in a browser (the same as "
                      f"{result.report_dir / 'report.md'}; its summary says who wins)",
             f"  the RD plot: {result.where['RD plot']} (top-1 and feature PSNR against bits per feature point)"]
    if result.mlflow_uri:
        lines += [f"  the runs in MLflow: {mlflow_ui_command(result.mlflow_uri)}",
                  "    then http://127.0.0.1:5000. MLflow 3 opens in its GenAI view: switch to \"Model training\" "
                  "to see the runs", "    (experiment fcbench/dinov2/cls: a parent run with a child per rate point, "
                  "and the trainings)"]
    return "\n".join(lines)
