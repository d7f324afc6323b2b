"""Benchmark: seconds per sample of the Llama-3 (csr) and SD3 (tti) machines on their tiny
random-weight stand-ins (CPU), and the overhead of resuming a finished extraction.

    .venv/bin/python benchmarks/llm_machines.py                 # 8 questions, 8 captions
    .venv/bin/python benchmarks/llm_machines.py --n 16 --sd3-size 64 --steps 4

The tiny models measure fcbench's own overhead (tokenising, hooks, feature-set writes, VAE
head, FID/CLIP bookkeeping), not the real models' speed: real runs are GPU-bound.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, TypeVar

from fcbench.machines import get_machine, llama3, sd3

T = TypeVar("T")

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "tokenizer"


def _timed(fn: Callable[..., T], *args: Any, **kwargs: Any) -> tuple[T, float]:
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


def bench(name: str, task: str, assets: dict, out: Path, n: int) -> dict:
    machine = get_machine(name, task, weights=assets["weights"], **assets["options"])
    _, load_s = _timed(lambda: machine.extract(assets["data"], out / "warm", limit=1))  # model load + first sample
    fs, extract_s = _timed(machine.extract, assets["data"], out / "fs")
    _, resume_s = _timed(machine.extract, assets["data"], out / "fs")
    ev, eval_s = _timed(machine.evaluate, fs, assets["data"], reference=fs)
    return {
        "machine": f"{name}/{task}", "samples": n, "load_and_first_s": round(load_s, 3),
        "extract_s_per_sample": round(extract_s / n, 4), "resume_noop_s": round(resume_s, 4),
        "evaluate_s_per_sample": round(eval_s / n, 4),
        "metrics": {m.name: round(m.value, 4) for m in ev.metrics},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8, help="questions and captions")
    parser.add_argument("--sd3-size", type=int, default=32, help="tiny SD3 image size (multiple of 4)")
    parser.add_argument("--steps", type=int, default=2, help="tiny SD3 denoising steps")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        la = llama3.make_tiny_assets(root / "llama", n_questions=args.n, tokenizer_dir=FIXTURE)
        sa = sd3.make_tiny_assets(root / "sd3", n_captions=args.n, tokenizer_dir=FIXTURE)
        sa["options"].update(height=args.sd3_size, width=args.sd3_size, steps=args.steps)
        for row in (bench("llama3", "csr", la, root / "llama_out", args.n), bench("sd3", "tti", sa, root / "sd3_out", args.n)):
            print(json.dumps(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
