"""Hyperprior speed: encode/decode seconds per megapixel of packed frame (CPU, reference-size
model N=128, M=192) and training steps per second.

    .venv/bin/python benchmarks/hyperprior.py [--rows 257 --cols 1536] [--repeat 3]
        [--train-batch 8 --train-crop 256 --train-steps 5] [--N 128 --M 192] [--device cpu]

The model is randomly initialised (no trained weights ship): the network cost is what a trained
model pays; the entropy-coding share depends on the trained densities, so it is reported apart
(bytes and the ANS time inside compress/decompress are not separable here: we print the total).
Prints one JSON object of figures.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=257)
    ap.add_argument("--cols", type=int, default=1536)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--N", type=int, default=128)
    ap.add_argument("--M", type=int, default=192)
    ap.add_argument("--train-batch", type=int, default=8)
    ap.add_argument("--train-crop", type=int, default=256)
    ap.add_argument("--train-steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--device", default="cpu", help="device for the training figure")
    args = ap.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from fcbench.codecs import get_codec
    from fcbench.codecs.hyperprior import ModelConfig, build_model, save_checkpoint
    from fcbench.codecs.hyperprior.model import parameter_groups
    from fcbench.codecs.hyperprior.training import rd_loss

    cfg = ModelConfig(N=args.N, M=args.M)
    torch.manual_seed(0)
    net = build_model(cfg)
    tmp = Path(tempfile.mkdtemp(prefix="hp-bench-"))
    ckpt = save_checkpoint(tmp / "model.pt", {"config": cfg.as_dict(), "lmbda": 0.01, "model": net.state_dict()})
    codec = get_codec("hyperprior", checkpoint=ckpt)
    rng = np.random.default_rng(0)
    x = rng.laplace(0, 1.5, (1, 1, args.rows, args.cols)).astype(np.float32)
    mp = args.rows * args.cols / 1e6
    enc, dec = [], []
    data = b""
    for _ in range(args.repeat):
        t = time.perf_counter()
        data = codec.encode(x, 0.01, low=-5, high=5, layout="llama3")
        enc.append(time.perf_counter() - t)
        t = time.perf_counter()
        codec.decode(data)
        dec.append(time.perf_counter() - t)

    dev = torch.device(args.device)
    model = build_model(cfg).to(dev).train()
    main_p, aux_p = parameter_groups(model)
    opt, aux_opt = torch.optim.Adam(main_p, 1e-4), torch.optim.Adam(aux_p, 1e-3)
    batch = torch.rand(args.train_batch, 1, args.train_crop, args.train_crop, device=dev)

    def step():
        opt.zero_grad()
        aux_opt.zero_grad()
        rd_loss(model(batch), batch, 0.01)["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        model.aux_loss().backward()
        aux_opt.step()

    step()  # warm-up
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(args.train_steps):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    train_s = (time.perf_counter() - t) / args.train_steps

    figures = {
        "model": f"{cfg.arch} N={cfg.N} M={cfg.M} (random init)",
        "frame": f"{args.rows}x{args.cols} ({mp:.3f} MP)",
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "encode_s_per_mp": statistics.median(enc) / mp,
        "decode_s_per_mp": statistics.median(dec) / mp,
        "bytes": len(data),
        "train_device": dev.type,
        "train_batch": f"{args.train_batch}x{args.train_crop}x{args.train_crop}",
        "train_steps_per_s": 1.0 / train_s,
    }
    print(json.dumps(figures, indent=2))
    return figures


if __name__ == "__main__":
    main()
