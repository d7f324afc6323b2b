"""`fcbench data import`: the released feature test set -> fcbench feature sets (a local folder
or `s3://`). The checks and the streaming copy are fcbench.codecs.features.importing; an `s3://`
destination is imported into a local staging folder first (resumable there too) and pushed,
skipping objects already stored intact."""
from __future__ import annotations

import argparse
import hashlib
from pathlib import Path


def add_parser(data: argparse._SubParsersAction, common) -> None:
    q = data.add_parser(
        "import", help="import the released feature test set (<sample>.npy files) as fcbench feature sets",
        description="Check every released file (name in the official sample list, shape, dtype, finite values) "
                    "and copy it, streamed and resumable, into a feature set. Exits 1 when any file is bad.")
    q.add_argument("src", nargs="?", type=Path, help="a folder of released <sample>.npy files (a feature_test folder)")
    q.add_argument("--model", help="model of SRC (dinov2, llama3, sd3)")
    q.add_argument("--task", help="task of SRC (cls, seg, dpt, csr, tti)")
    q.add_argument("--all", type=Path, metavar="ROOT",
                   help="import every <model>/<task>/feature_test under ROOT into OUT/<model>/<task>/features/")
    q.add_argument("--out", required=True, help="the feature set folder or s3:// URI (with --all: the root)")
    q.add_argument("--progress", action="store_true", help="show a progress bar per set")
    common(q)
    q.set_defaults(func=cmd_import)


def _jobs(args: argparse.Namespace) -> list[tuple[str, str, Path, str]]:
    """(model, task, source folder, destination) of every set to import."""
    from fcbench.codecs.conditions import load_conditions
    from fcbench.codecs.features.importing import find_released
    from fcbench.components.storage.keys import artifact_key

    if args.all is not None:
        if args.src is not None or args.model or args.task:
            raise ValueError("fcbench data import: give either SRC --model --task, or --all ROOT")
        known = {(t.model, t.task) for t in load_conditions().tasks}
        found = find_released(args.all)
        for model, task, folder in found:
            if (model, task) not in known:
                print(f"skipping {folder}: no test conditions for {model}/{task}")
        jobs = [(m, t, f, f"{args.out.rstrip('/')}/{artifact_key(m, t, 'features').rstrip('/')}")
                for m, t, f in found if (m, t) in known]
        if not jobs:
            raise ValueError(f"fcbench data import: no <model>/<task>/feature_test folder of a known task under {args.all}")
        return jobs
    if args.src is None or not args.model or not args.task:
        raise ValueError("fcbench data import: SRC needs --model and --task (or use --all ROOT)")
    load_conditions().get(args.model, args.task)  # unknown model/task: a clear KeyError
    return [(args.model, args.task, args.src, args.out)]


def _import(model: str, task: str, src: Path, dest: str, args: argparse.Namespace) -> bool:
    from fcbench.codecs.common import settings
    from fcbench.codecs.features.importing import import_released
    from fcbench.components.storage import StorageConfig, is_remote, open_storage

    local = Path(dest)
    if is_remote(dest):
        local = settings.STAGE_DIR.get() / "import" / hashlib.sha256(dest.encode()).hexdigest()[:16]
    report = import_released(src, model, task, local, progress=args.progress)
    print("\n".join(report.lines()))
    if is_remote(dest) and (report.copied or report.unchanged):
        config = StorageConfig.from_env(endpoint=args.endpoint) if args.endpoint else StorageConfig.from_env()
        storage = open_storage(dest, config)
        print(f"  pushed {local} -> {storage.url('')}: {storage.push_dir(local, '')}")
    return report.ok


def cmd_import(args: argparse.Namespace) -> int:
    results = [_import(model, task, src, dest, args) for model, task, src, dest in _jobs(args)]
    return 0 if all(results) else 1
