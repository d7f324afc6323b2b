"""Benchmark: DINOv2 machine extract/evaluate seconds per sample, and backbone seconds per image.

    .venv/bin/python benchmarks/dinov2_machines.py                      # tiny models, all tasks
    .venv/bin/python benchmarks/dinov2_machines.py --tasks cls --images 8
    .venv/bin/python benchmarks/dinov2_machines.py --vitg --device cuda  # ViT-g-sized random backbone

Tiny models (embed 64, depth 4, heads 4, SwiGLU) on synthetic data measure the machinery
(preprocessing, hooks, feature-set writes, heads, metrics); `--vitg` times the full-size
backbone (random weights, 1.1 B parameters, ~4.5 GB in fp32) on the reference's input sizes.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from fcbench.machines import get_machine
from fcbench.machines.dinov2 import Backbone
from fcbench.machines.dinov2.machine import depth_blocks, resolve_device
from fcbench.machines.dinov2.tiny import make_assets


def tiny(tasks: list[str], n: int) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for task in tasks:
            a = make_assets(Path(tmp) / task, task, n_images=n)
            m = get_machine("dinov2", task, weights=a["weights"], progress=False, **a["options"])
            t0 = time.perf_counter()
            fs = m.extract(a["data"], Path(tmp) / task / "fs", sample_list=a["sample_list"])
            t1 = time.perf_counter()
            ev = m.evaluate(fs, a["data"], reference=fs, sample_list=a["sample_list"])
            t2 = time.perf_counter()
            rows.append({"task": task, "samples": n, "extract_s_per_sample": (t1 - t0) / n,
                         "evaluate_s_per_sample": (t2 - t1) / n, ev.primary.name: ev.primary.value})
    return rows


def vitg(device: str, repeats: int, inputs: list[str]) -> list[dict]:
    dev = resolve_device(device)
    with torch.device("meta"):
        shell = Backbone(1536, 40, 24, 4096, "swiglu")
    bb = shell.to_empty(device=dev)
    with torch.no_grad():
        for p in bb.parameters():
            p.normal_(0, 0.02)
    bb.eval()
    rows = []
    for name, hw, batch, blocks in (("cls", (224, 224), 1, [39]), ("seg", (518, 518), 1, [39]), ("dpt", (490, 644), 2, depth_blocks(40))):
        if name not in inputs:
            continue
        x = torch.randn(batch, 3, *hw, device=dev)
        with torch.no_grad():
            bb.block_outputs(x, blocks)  # warm-up
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            for _ in range(repeats):
                bb.block_outputs(x, blocks)
            if dev.type == "cuda":
                torch.cuda.synchronize()
        rows.append({"input": name, "hw": hw, "batch": batch, "device": str(dev), "s_per_forward": (time.perf_counter() - t0) / repeats})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", nargs="+", default=["cls", "seg", "dpt"])
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--vitg", action="store_true", help="time the full-size ViT-g backbone instead")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--inputs", nargs="+", default=["cls", "seg", "dpt"], help="--vitg inputs: cls 224x224, seg 518x518 crop, dpt 2 views 490x644")
    args = ap.parse_args()
    rows = vitg(args.device, args.repeats, args.inputs) if args.vitg else tiny(args.tasks, args.images)
    for row in rows:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
