"""Orchestration overhead of the kfp local runner: the demo's `full` pipeline vs the same work
called directly, in one process, through the same functions the component bodies call.

    .venv/bin/python benchmarks/pipeline_overhead.py [--out DIR] [--quick]

Prints both wall times and the overhead (pipeline - direct) as a share of the pipeline's wall
time; the target is < 15 %. --quick runs a smaller configuration (2 QPs, 1 lambda, 10 steps).
Both runs start from the same generated assets; the pipeline runs without the task cache.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

TARGET = 0.15


def direct(assets: dict, args: dict, work: Path) -> float:
    """The pipeline's work as plain function calls, in the pipeline's order; returns seconds."""
    from fcbench.components.reporting import RDPoint, save_points_json
    from fcbench.components.stages.evaluate import evaluate_points
    from fcbench.components.stages.extract import extract_features
    from fcbench.components.stages.hyperprior_infer import infer
    from fcbench.codecs.hyperprior import training_settings
    from fcbench.components.stages.hyperprior_train import train_model
    from fcbench.components.stages.report import make_report
    from fcbench.components.stages.prepare_coding import prepare
    from fcbench.components.stages.code_traditional import encode_decode

    t0 = time.perf_counter()
    machine = (args["model"], args["task"], args["weights_uri"], args["data_uri"], args["sample_list_uri"],
               args["machine_options"])
    feats, train_feats = str(work / "features"), str(work / "train_features")
    extract_features(*machine, feats)
    extract_features(args["model"], args["task"], args["weights_uri"], args["train_data_uri"],
                     args["train_sample_list_uri"], args["machine_options"], train_feats)
    _, grid, _ = prepare(feats, args["model"], args["task"], "traditional", False, "{}", args["codecs"], args["qps"],
                         str(work / "quantized"), str(work / "quantized.json"))
    recons, rates = [str(work / "quantized")], [str(work / "quantized.json")]
    for item in grid:
        tag = f"{item['codec']}-{item['rate_point']}"
        encode_decode(feats, item["codec"], item["options"], item["identity_hash"], item["rate_point"], item["conditions"],
                      str(work / tag), str(work / f"{tag}.bits"), str(work / f"{tag}.json"), label=item["label"])
        recons.append(str(work / tag))
        rates.append(str(work / f"{tag}.json"))
    _, learned, _ = prepare(feats, args["model"], args["task"], "learned", False, "{}",
                            [{"codec": "hyperprior", "identity_hash": ""}], args["lambdas"], str(work / "quantized-l"),
                            str(work / "quantized-l.json"))
    for item in learned:
        lmbda, tag = item["rate_point"], f"hyperprior-{item['rate_point']}"
        train_model(train_feats, args["model"], args["task"], lmbda, str(work / f"{tag}.pt"), str(work / f"{tag}-curves"),
                    "auto", "off", **training_settings.pick(args))
        infer(feats, str(work / f"{tag}.pt"), lmbda, item["conditions"], "cpu", str(work / tag),
              str(work / f"{tag}.bits"), str(work / f"{tag}.json"), label=item["label"])
        recons.append(str(work / tag))
        rates.append(str(work / f"{tag}.json"))
    points = evaluate_points(feats, recons, rates, *machine)
    save_points_json([RDPoint.from_dict(p) for p in points], work / "points.json")
    make_report([str(work / "points.json")], str(work / "report"), args["anchor"], args["title"], "off", {})
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("fcbench-out/bench-overhead"))
    p.add_argument("--quick", action="store_true")
    opts = p.parse_args(argv)

    from fcbench.machines.dinov2.tiny import make_assets
    from fcbench.pipelines.demo import DemoSettings, demo_arguments
    from fcbench.pipelines.full import full
    from fcbench.pipelines.local import run_local

    settings = DemoSettings(tracking=False)
    if opts.quick:
        settings = DemoSettings(n_images=4, qps=(27, 37), lambdas=(0.01,), steps=10, tracking=False)
    out = opts.out.resolve()
    shutil.rmtree(out, ignore_errors=True)
    assets = make_assets(out / "assets", task="cls", n_images=settings.n_images, seed=settings.seed)
    args = demo_arguments(assets, settings, "")
    args["qps"] = args["qps"] or [22, 27, 32, 37, 42]

    t_direct = direct(assets, args, out / "direct")
    run = run_local(full, args, out / "pipeline", cache=False, log_path=out / "pipeline" / "kfp-local.log")
    t_pipe = run.wall_s
    overhead = t_pipe - t_direct
    share = overhead / t_pipe
    result = {"config": "quick" if opts.quick else "demo", "qps": args["qps"], "lambdas": args["lambdas"],
              "steps": args["steps"], "images": settings.n_images, "direct_s": round(t_direct, 1),
              "pipeline_s": round(t_pipe, 1), "overhead_s": round(overhead, 1),
              "overhead_share": round(share, 3), "target_share": TARGET}
    print(json.dumps(result, indent=2))
    verdict = "within" if share < TARGET else "ABOVE"
    print(f"orchestration overhead {overhead:.1f} s = {100 * share:.1f} % of the pipeline's {t_pipe:.1f} s "
          f"({verdict} the {100 * TARGET:.0f} % target)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
