"""Storage throughput: put_file / get_file / checksum of one large file, local vs loopback S3.

Starts a moto S3 server on loopback (no MinIO binary here; see docs/test-conditions.md §9), so the S3
figures include moto's own cost, which dominates: treat them as a floor, not MinIO's speed.

    .venv/bin/python benchmarks/storage_throughput.py [--mb 200] [--part-mb 16]
"""
from __future__ import annotations

import argparse
import hashlib
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from fcbench.components.storage import LocalStorage, S3Storage, StorageConfig, open_storage


def _timed(label: str, mb: float, fn) -> float:
    t0 = time.perf_counter()
    fn()
    dt = time.perf_counter() - t0
    print(f"  {label:<28} {dt:7.2f} s  {mb / dt:8.1f} MB/s")
    return dt


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=int, default=200, help="file size in MiB")
    ap.add_argument("--part-mb", type=int, default=16, help="multipart part size in MiB")
    args = ap.parse_args(argv)
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    size = args.mb << 20
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        src = tmp / "src.bin"
        data = np.random.default_rng(0).bytes(size)
        src.write_bytes(data)
        sha = hashlib.sha256(data).hexdigest()
        del data
        print(f"file: {args.mb} MiB, part size {args.part_mb} MiB")

        print("local storage:")
        local = LocalStorage(tmp / "local")
        _timed("put_file", args.mb, lambda: local.put_file("a/src.bin", src, sha256=sha))
        _timed("get_file (sha-checked)", args.mb, lambda: local.get_file("a/src.bin", tmp / "l.bin", sha256=sha))
        _timed("sha256 of the file", args.mb, lambda: local.checksum("a/src.bin"))

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            cfg = StorageConfig(endpoint=f"{host}:{port}", access_key="bench", secret_key="bench", region="us-east-1", part_size=args.part_mb << 20)
            s3 = open_storage("s3://bench-bucket/x", cfg)
            assert isinstance(s3, S3Storage)  # ensure_bucket is S3's
            s3.ensure_bucket()
            print(f"S3 (moto on {host}:{port}):")
            _timed("put_file (multipart)", args.mb, lambda: s3.put_file("src.bin", src, sha256=sha))
            _timed("get_file (sha-checked)", args.mb, lambda: s3.get_file("src.bin", tmp / "s.bin"))
            _timed("checksum (streamed)", args.mb, lambda: s3.checksum("src.bin"))
            assert hashlib.sha256((tmp / "s.bin").read_bytes()).hexdigest() == sha
            s3.delete("src.bin")
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
