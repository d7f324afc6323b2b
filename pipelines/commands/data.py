"""`fcbench data push|pull|ls|verify|import`: move and check feature sets (and any pushed folder)
between local folders and object storage; import the released feature test set (data_import.py). Endpoint and credentials come from the environment
(FCBENCH_S3_ENDPOINT, FCBENCH_S3_ACCESS_KEY, FCBENCH_S3_SECRET_KEY; see docs/storage.md)."""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Optional

from fcbench.pipelines.commands import data_import
from fcbench.pipelines.commands.options import output_folder


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="push, pull, list and verify feature sets in object storage")
    data = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("--endpoint", help="S3 endpoint host:port or URL (default: $FCBENCH_S3_ENDPOINT)")
        q.add_argument("--debug", action="store_true", help="show tracebacks")

    q = data.add_parser("push", help="upload a folder (e.g. a feature set) to a storage URI; resumable, manifest last")
    q.add_argument("local_dir", type=Path)
    q.add_argument("uri", help="s3://bucket/prefix or a local path")
    q.add_argument("--create-bucket", action="store_true", help="create the bucket when it does not exist")
    common(q)
    q.set_defaults(func=cmd_push)

    q = data.add_parser("pull", help="download a pushed folder, checking every file's sha256")
    q.add_argument("uri")
    q.add_argument("local_dir", type=output_folder)
    common(q)
    q.set_defaults(func=cmd_pull)

    q = data.add_parser("ls", help="list the keys below a storage URI")
    q.add_argument("uri")
    q.add_argument("-l", "--long", action="store_true", help="also print size and recorded sha256")
    common(q)
    q.set_defaults(func=cmd_ls)

    data_import.add_parser(data, common)

    q = data.add_parser("verify", help="check a feature set (or pushed folder) against its manifest; exit 1 on problems")
    q.add_argument("uri", metavar="URI_OR_DIR")
    common(q)
    q.set_defaults(func=cmd_verify)


def _config(args: argparse.Namespace):
    from fcbench.components.storage import StorageConfig

    return StorageConfig.from_env(endpoint=args.endpoint) if args.endpoint else StorageConfig.from_env()


def _open(args: argparse.Namespace, uri: Optional[str] = None):
    from fcbench.components.storage import open_storage

    return open_storage(uri or args.uri, _config(args))


def cmd_push(args: argparse.Namespace) -> int:
    storage = _open(args)
    if args.create_bucket and hasattr(storage, "ensure_bucket"):
        storage.ensure_bucket()
    t0 = time.monotonic()
    report = storage.push_dir(args.local_dir, "")
    print(f"pushed {args.local_dir} -> {storage.url('')}: {report} in {time.monotonic() - t0:.1f} s")
    return 0


def cmd_pull(args: argparse.Namespace) -> int:
    storage = _open(args)
    t0 = time.monotonic()
    report = storage.pull_dir("", args.local_dir)
    print(f"pulled {storage.url('')} -> {args.local_dir}: {report} in {time.monotonic() - t0:.1f} s")
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    from fcbench.components.storage.local import LocalStorage

    storage = _open(args)
    if isinstance(storage, LocalStorage) and not storage.root.is_dir():  # a typo, not an empty folder
        raise FileNotFoundError(f"{storage.root} is not a folder")
    keys = storage.ls()
    for key in keys:
        if args.long:
            info = storage.stat(key)
            print(f"{info.size:>14}  {info.sha256 or '-':64}  {key}")
        else:
            print(key)
    if not keys:
        print(f"(nothing under {storage.url('')})")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from fcbench.codecs.features.featureset import MANIFEST
    from fcbench.components.storage import INDEX, verify_featureset

    storage = _open(args)
    if storage.exists(MANIFEST):
        problems = verify_featureset(args.uri, _config(args))
        if not problems and storage.exists(INDEX):
            problems = storage.verify_dir("")
        what = "feature set"
    elif storage.exists(INDEX):
        problems, what = storage.verify_dir(""), "folder"
    else:
        problems, what = [f"{storage.url('')}: neither {MANIFEST} nor {INDEX} found: nothing to verify against"], "folder"
    if problems:
        print(f"{storage.url('')}: {len(problems)} problem(s):")
        for problem in problems:
            print(f"  - {problem}")
        return 1
    print(f"{storage.url('')}: {what} intact")
    return 0
