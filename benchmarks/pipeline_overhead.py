"""Orchestration overhead of the kfp local runner: the demo's `full` pipeline vs the same work
called directly, in a new interpreter, through the same functions the component bodies call; and
where the pipeline's extra time goes, task by task.

    .venv/bin/python benchmarks/pipeline_overhead.py [--out DIR] [--quick]

Prints, for every task of the pipeline run: the runner starting it (launch: shell, mktemp,
interpreter exec or task client), its start-up (process start to the stage's first line: Python,
the kfp executor, the component module and what its body imports before the stage starts; a
fork of the warm task server when it is on), its work (wall and CPU; it includes the imports
the work needs, e.g. torch, when not preloaded) next to the same stage's work in the direct run,
and its exit (the stage's last line to the runner seeing the task finished: outputs written,
interpreter shutdown). Then both wall times and the overhead (pipeline - direct) as a share of
the pipeline's wall time (target < 15 %), and both runs' CPU seconds, the pipeline's split into
the task server, its tasks, the runner's own process and the rest (target: pipeline <= 1.25x
direct). CPU is the like-for-like figure: the pipeline runs two tasks at once, the direct run one
thing at a time. Both runs start Python and import once or more: the direct run is a new
interpreter, timed from its start. The load average before and after is printed (other
processes on the machine slow both runs and make the figures noisy). --quick runs a smaller
configuration (2 QPs, 1 lambda, 10 steps). Both runs start from the same generated assets; the
pipeline runs without the task cache, its tasks warm unless FCBENCH_WARM_TASKS=false. Both run the
work alike: one sweep worker, and the torch threads of a task (fcbench.pipelines.local.task_threads:
one on 2 cores), so the difference is the orchestration. --direct-threads 0 gives the direct run
torch's default (every core) instead: on the demo's tiny models that is slower (30 training steps
of its hyperprior took 2-5x as long with 2 threads as with 1, on 2 cores), which would flatter the
pipeline.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Optional

TARGET = 0.15
CPU_TARGET = 1.25  # pipeline CPU seconds per direct CPU second


def own_cpu() -> float:
    """CPU seconds of this process alone (the kfp runner's orchestration, in the pipeline run)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def cpu_now() -> float:
    """CPU seconds of this process and its finished children (task processes, sweep workers)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def direct_in_new_process(args: dict, work: Path, log: Path, threads: int) -> tuple[float, float, int]:
    """Run `direct` in a new interpreter, as a user's script would run: its wall and CPU time
    include starting Python and importing torch & co. once, as the pipeline's include its task
    server's (or its tasks') imports. Returns wall seconds, CPU seconds, torch threads."""
    from fcbench.codecs.common import settings

    env = {**settings.whole_environment(), settings.PROGRESS_LOG.name: str(log), settings.SWEEP_JOBS.name: "1"}
    if threads:  # one sweep worker and each task's torch threads, as every task of the local run
        env[settings.OMP_THREADS.name] = str(threads)
    spec = json.dumps({"args": args, "work": str(work)})
    cpu0, t0 = cpu_now(), time.perf_counter()
    done = subprocess.run([sys.executable, __file__, "--direct-child", spec], env=env, check=True, stdout=subprocess.PIPE,
                          text=True)
    wall, cpu = time.perf_counter() - t0, cpu_now() - cpu0
    return wall, cpu, int(json.loads(done.stdout.strip().splitlines()[-1])["torch_threads"])


def direct_child(spec: str) -> int:
    """--direct-child: the direct run itself; its last line says its torch threads."""
    import torch

    job = json.loads(spec)
    direct(job["args"], Path(job["work"]))
    print(json.dumps({"torch_threads": torch.get_num_threads()}))
    return 0


def direct(args: dict, work: Path) -> float:
    """The pipeline's work as plain function calls, in the pipeline's order; returns seconds."""
    from fcbench.codecs.hyperprior import training_settings
    from fcbench.components.rd_points import RDPoint, save_points_json
    from fcbench.components.stages.code_traditional import encode_decode
    from fcbench.components.stages.evaluate import evaluate_points
    from fcbench.components.stages.extract import extract_features
    from fcbench.components.stages.hyperprior_infer import infer
    from fcbench.components.stages.hyperprior_train import train_model
    from fcbench.components.stages.open_tracking import open_parent_run
    from fcbench.components.stages.prepare_coding import prepare
    from fcbench.components.stages.report import make_report
    from fcbench.components.stages.resolve_codecs import resolve_codec_list
    from fcbench.pipelines.parameters import DEFAULTS

    t0 = time.perf_counter()
    model, task = args["model"], args["task"]
    options = json.dumps(args["machine_options"])
    machine = (model, task, args["weights_uri"], args["data_uri"], args["sample_list_uri"], options)
    open_parent_run(model, task, "fcbench-full", args["tracking_uri"], "", "", "", {})
    feats, train_feats = str(work / "features"), str(work / "train_features")
    extract_features(*machine, feats)
    extract_features(model, task, args["weights_uri"], args["train_data_uri"], args["train_sample_list_uri"], options,
                     train_feats)
    codecs = [{k: v for k, v in r.items() if k != "identity"} for r in resolve_codec_list(args["codecs"])]
    _, grid, _ = prepare(feats, model, task, "traditional", "", "{}", codecs, args["qps"],
                         str(work / "quantized"), str(work / "quantized.json"))
    recons, rates = [str(work / "quantized")], [str(work / "quantized.json")]
    for item in grid:
        tag = f"{item['label']}-{item['rate_point']}"
        encode_decode(feats, item["codec"], item["options"], item["identity_hash"], item["rate_point"], item["conditions"],
                      str(work / tag), str(work / f"{tag}.bits"), str(work / f"{tag}.json"), label=item["label"])
        recons.append(str(work / tag))
        rates.append(str(work / f"{tag}.json"))
    _, learned, _ = prepare(feats, model, task, "learned", "", "{}", [{"codec": "hyperprior", "identity_hash": ""}],
                            args["lambdas"], str(work / "quantized-l"), str(work / "quantized-l.json"))
    for item in learned:
        lmbda, tag = item["rate_point"], f"hyperprior-{item['rate_point']}"
        train_model(train_feats, model, task, lmbda, str(work / f"{tag}.pt"), str(work / f"{tag}-curves"),
                    "auto", "off", **training_settings.pick({**DEFAULTS, **args}))  # what the pipeline's defaults fill in
        infer(feats, str(work / f"{tag}.pt"), lmbda, item["conditions"], "cpu", str(work / tag),
              str(work / f"{tag}.bits"), str(work / f"{tag}.json"), label=item["label"])
        recons.append(str(work / tag))
        rates.append(str(work / f"{tag}.json"))
    points = evaluate_points(feats, recons, rates, *machine)
    save_points_json([RDPoint.from_dict(p) for p in points], work / "points.json")
    make_report([str(work / "points.json")], str(work / "report"), args["anchor"], args["title"], "off", {})
    return time.perf_counter() - t0


# ---------------------------------------------------------------- per-task figures
_LINE = re.compile(r"^(\d\d:\d\d:\d\d\.\d+) - INFO - (?:Executing task '([^']+)'$|Task '([^']+)' finished )")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class Task:
    """One task of the pipeline run: the runner's view (launched, seen finished) and the task
    process's (timing record: process start, work start/end, CPU)."""

    name: str
    launched: float
    finished: Optional[float] = None
    record: dict = field(default_factory=dict)

    @property
    def stage(self) -> str:
        return self.record.get("stage") or stage_of(self.name)


def stage_of(task_name: str) -> str:
    """code-traditional-2 -> code_traditional (the runner numbers copies of a component)."""
    return re.sub(r"-\d+$", "", task_name).replace("-", "_")


def runner_tasks(log: Path, day: datetime) -> list[Task]:
    """Tasks from the kfp local runner's log (its 'Executing task' / 'Task ... finished' lines,
    times of day: `day` supplies the date). Two running copies of one task name are told apart
    when the timing records are matched (`attach`)."""
    tasks: list[Task] = []
    last = None
    for raw in log.read_text(errors="replace").splitlines():
        m = _LINE.match(_ANSI.sub("", raw))
        if not m:
            continue
        t = datetime.combine(day.date(), datetime.strptime(m.group(1), "%H:%M:%S.%f").time())
        if last is not None and t < last - timedelta(hours=12):
            t += timedelta(days=1)  # the run passed midnight
        last = t
        if m.group(3):
            tasks.append(Task(m.group(3), 0.0, t.timestamp()))  # a finish, paired below
        else:
            tasks.append(Task(m.group(2), t.timestamp()))
    started = [t for t in tasks if t.finished is None]
    for done in (t for t in tasks if t.launched == 0.0):
        assert done.finished is not None  # a finish record
        open_ = [s for s in started if s.name == done.name and s.finished is None and s.launched <= done.finished]
        if open_:
            open_[0].finished = done.finished
    return started


def attach(tasks: list[Task], records: list[dict], slack: float = 1.0) -> None:
    """Give each task the timing record of the process it ran: same stage, work inside the
    runner's interval (give or take `slack` seconds of clock granularity), earliest first."""
    free = [r for r in records if r.get("in_task")]
    for task in sorted(tasks, key=lambda t: t.launched):
        fits = [r for r in free if r["stage"] == stage_of(task.name) and r["work_start"] >= task.launched - slack
                and (task.finished is None or r["work_end"] <= task.finished + slack)]
        if fits:
            best = min(fits, key=lambda r: r["work_start"])
            task.record = best
            free.remove(best)
    # copies of one name that finished in another order than they started: pair the finishes
    # with the records by time
    for name in {t.name for t in tasks}:
        same = [t for t in tasks if t.name == name and t.record and t.finished]
        ends = sorted(t.finished for t in same if t.finished is not None)
        for t, end in zip(sorted(same, key=lambda t: t.record["work_end"]), ends):
            t.finished = end


def _fmt(v: Optional[float]) -> str:
    return "" if v is None else f"{v:.1f}"


def task_table(tasks: list[Task], direct_work: dict[str, float], warm: bool = False) -> tuple[str, dict]:
    """The per-task table and the per-stage sums (`warm`: the tasks were forked from the task
    server, so what they had loaded is what it preloaded)."""
    head = ["task", "launch", "start-up", "(cpu)", "work", "(cpu)", "exit", "total", "imports"]
    rows: list[list[str]] = []
    per_stage: dict[str, dict] = {}
    for t in sorted(tasks, key=lambda t: t.launched):
        r = t.record
        proc = r.get("process_start")
        launch = proc - t.launched if proc and r else None
        start = r["work_start"] - proc if proc and r else None
        work = r["work_end"] - r["work_start"] if r else None
        exit_ = t.finished - r["work_end"] if r and t.finished else None
        total = t.finished - t.launched if t.finished else None
        rows.append([t.name, _fmt(launch), _fmt(start), _fmt(r.get("startup_cpu")), _fmt(work), _fmt(r.get("work_cpu")),
                     _fmt(exit_), _fmt(total),
                     "(preloaded)" if warm else ",".join(x for x in r.get("heavy", []) if x not in ("av", "PIL"))])
        s = per_stage.setdefault(t.stage, {"tasks": 0, "launch": 0.0, "startup": 0.0, "startup_cpu": 0.0, "work": 0.0,
                                           "work_cpu": 0.0, "exit": 0.0, "total": 0.0})
        s["tasks"] += 1
        for key, v in (("launch", launch), ("startup", start), ("startup_cpu", r.get("startup_cpu")), ("work", work),
                       ("work_cpu", r.get("work_cpu")), ("exit", exit_), ("total", total)):
            s[key] += v or 0.0
    for stage, s in per_stage.items():
        s["direct_work"] = direct_work.get(stage, 0.0)
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    line = lambda cells: "  ".join(str(c).ljust(w) if i in (0, 8) else str(c).rjust(w)  # noqa: E731
                                   for i, (c, w) in enumerate(zip(cells, widths)))
    out = [line(head), *map(line, rows)]
    out.append("")
    shead = ["stage", "tasks", "launch", "start-up", "(cpu)", "work", "(cpu)", "direct work", "exit", "total"]
    srows = [[k, s["tasks"], _fmt(s["launch"]), _fmt(s["startup"]), _fmt(s["startup_cpu"]), _fmt(s["work"]),
              _fmt(s["work_cpu"]), _fmt(s["direct_work"]), _fmt(s["exit"]), _fmt(s["total"])] for k, s in per_stage.items()]
    tot = {k: sum(s[k] for s in per_stage.values()) for k in ("launch", "startup", "startup_cpu", "work", "work_cpu",
                                                            "direct_work", "exit", "total")}
    srows.append(["all", sum(s["tasks"] for s in per_stage.values()), *(_fmt(tot[k]) for k in
                 ("launch", "startup", "startup_cpu", "work", "work_cpu", "direct_work", "exit", "total"))])
    widths = [max(len(str(x)) for x in col) for col in zip(shead, *srows)]
    out += ["  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
            for cells in (shead, *srows)]
    return "\n".join(out), {"stages": per_stage, "totals": tot}


def idle_runner_s(tasks: list[Task], start: float, end: float) -> float:
    """Seconds of the run during which no task was between launch and finish (the runner's own
    bookkeeping between tasks)."""
    spans = sorted((t.launched, t.finished or end) for t in tasks)
    if not spans:
        return max(0.0, end - start)
    busy = 0.0
    cur_s, cur_e = spans[0]
    for s, e in spans[1:]:
        if s > cur_e:  # a gap: the merged span so far is done
            busy += cur_e - cur_s
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    busy += cur_e - cur_s
    return max(0.0, (end - start) - busy)


def direct_work_by_stage(records: list[dict]) -> dict[str, float]:
    out: dict[str, float] = {}
    for r in records:
        out[r["stage"]] = out.get(r["stage"], 0.0) + r["work_end"] - r["work_start"]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("fcbench-out/bench-overhead"))
    p.add_argument("--quick", action="store_true")
    p.add_argument("--images", type=int, default=None, help="test images (default: the demo's)")
    p.add_argument("--codec", action="append", default=None, help="traditional codec (repeat; default: the demo's)")
    p.add_argument("--direct-threads", type=int, default=None,
                   help="torch threads of the direct run (default: each task's, fcbench.pipelines.local."
                        "task_threads(); 0: torch's default, every core)")
    p.add_argument("--direct-child", help=argparse.SUPPRESS)
    opts = p.parse_args(argv)
    if opts.direct_child:
        return direct_child(opts.direct_child)

    from fcbench.codecs.common import settings
    from fcbench.components.stages.timing import stage_runs
    from fcbench.machines.dinov2.tiny import make_assets
    from fcbench.pipelines.demo import DemoSettings, demo_arguments
    from fcbench.pipelines.full import full
    from fcbench.pipelines.local import run_local, task_threads

    demo = DemoSettings(tracking=False)
    if opts.quick:
        demo = DemoSettings(n_images=4, qps=(27, 37), lambdas=(0.01,), steps=10, tracking=False)
    if opts.images:
        demo.n_images = opts.images
    out = opts.out.resolve()
    shutil.rmtree(out, ignore_errors=True)
    load_before = os.getloadavg()
    assets = make_assets(out / "assets", task="cls", n_images=demo.n_images, seed=demo.seed)
    args = demo_arguments(assets, demo, "")
    if opts.codec:
        args["codecs"] = list(opts.codec)

    threads = task_threads() if opts.direct_threads is None else opts.direct_threads
    direct_log, pipeline_log = out / "stages-direct.jsonl", out / "stages-pipeline.jsonl"
    t_direct, cpu_direct, direct_threads = direct_in_new_process(args, out / "direct", direct_log, threads)
    runner_log = out / "pipeline" / "kfp-local.log"
    with settings.environment({settings.PROGRESS_LOG: str(pipeline_log)}):
        cpu0, own0, started, day = cpu_now(), own_cpu(), time.time(), datetime.now()
        run = run_local(full, args, out / "pipeline", cache=False, log_path=runner_log)
        ended, cpu_pipe, cpu_runner = time.time(), cpu_now() - cpu0, own_cpu() - own0
    load_after = os.getloadavg()

    t_pipe = run.wall_s
    overhead = t_pipe - t_direct
    share = overhead / t_pipe
    tasks = runner_tasks(runner_log, day)
    attach(tasks, stage_runs(pipeline_log))
    table, sums = task_table(tasks, direct_work_by_stage(stage_runs(direct_log)), warm=bool(run.task_server))
    idle = idle_runner_s(tasks, started, ended)
    server = run.task_server or {}
    cpu_tasks = sum((t.record.get("startup_cpu") or 0) + (t.record.get("work_cpu") or 0) for t in tasks)
    cpu_ratio = cpu_pipe / cpu_direct
    print(f"{len(tasks)} tasks ({'from the warm task server' if server else 'cold: a new interpreter each'}); "
          "seconds of wall time each (cpu: CPU seconds). launch: the runner starting the task "
          "process; start-up: process start -> the stage's first line (Python, kfp executor, component module); "
          "work: the stage (with the imports it needs); exit: the stage's last line -> the runner seeing the task "
          "finished (outputs written, interpreter shutdown); imports: heavy packages the task process loaded.\n")
    print(table)
    result = {"config": "quick" if opts.quick else "demo", "codecs": args["codecs"], "qps": args["qps"],
              "lambdas": args["lambdas"],
              "steps": args["steps"], "images": demo.n_images, "tasks": len(tasks), "direct_s": round(t_direct, 1),
              "pipeline_s": round(t_pipe, 1), "overhead_s": round(overhead, 1), "overhead_share": round(share, 3),
              "target_share": TARGET, "direct_cpu_s": round(cpu_direct, 1), "pipeline_cpu_s": round(cpu_pipe, 1),
              "runner_idle_s": round(idle, 1), "load_before": [round(x, 2) for x in load_before],
              "load_after": [round(x, 2) for x in load_after], "cores": len(os.sched_getaffinity(0)),
              "cpu_ratio": round(cpu_ratio, 3), "cpu_target": CPU_TARGET, "runner_cpu_s": round(cpu_runner, 1),
              "tasks_cpu_s": round(cpu_tasks, 1), "task_server": server,
              "direct_torch_threads": direct_threads, "task_torch_threads": task_threads(),
              "per_stage": sums["stages"]}
    (out / "result.json").write_text(json.dumps(result, indent=2, default=str))
    verdict = "within" if share < TARGET else "ABOVE"
    cpu_verdict = "within" if cpu_ratio <= CPU_TARGET else "ABOVE"
    if server:
        spent = (f"task server {server['server_cpu_s']} s (its preload {server['preload_cpu_s']} s), its tasks "
                 f"{server['tasks_cpu_s']} s (start-up and work {cpu_tasks:.1f} s, the rest their exits)")
        rest = cpu_pipe - cpu_runner - (server["server_cpu_s"] or 0) - (server["tasks_cpu_s"] or 0)
        rest_what = "the runner's shells and task clients"
    else:
        spent, rest = f"tasks {cpu_tasks:.1f} s (start-up and work)", cpu_pipe - cpu_runner - cpu_tasks
        rest_what = "the tasks' interpreter exits, the runner's shells"
    print(f"\nCPU: direct {cpu_direct:.1f} s (a new interpreter: start-up and imports included), pipeline "
          f"{cpu_pipe:.1f} s = {cpu_ratio:.2f}x ({cpu_verdict} the {CPU_TARGET}x target): {spent}, the runner's "
          f"own process {cpu_runner:.1f} s, {rest_what} {rest:.1f} s")
    print(f"runner idle between tasks: {idle:.1f} s; load average before {load_before[0]:.2f}, after {load_after[0]:.2f} "
          f"on {result['cores']} cores; torch threads: direct {direct_threads}, each task {task_threads()}")
    print(f"direct {t_direct:.1f} s, pipeline {t_pipe:.1f} s: orchestration overhead {overhead:.1f} s = "
          f"{100 * share:.1f} % of the pipeline's wall time ({verdict} the {100 * TARGET:.0f} % target); "
          f"details in {out / 'result.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
