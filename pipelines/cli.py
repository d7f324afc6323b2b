"""The `fcbench` command line: one entry point, one module per command family.

Each module in COMMAND_MODULES defines `register(subparsers)`, adding sub-commands whose
parsers set `func=callable(args) -> int`. `main(argv)` is what tests call directly.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Optional, Sequence

COMMAND_MODULES = (
    "fcbench.pipelines.commands.core",
    "fcbench.pipelines.commands.codec",
    "fcbench.pipelines.commands.ranges",
    "fcbench.pipelines.commands.hyperprior",
    "fcbench.pipelines.commands.machines",
    "fcbench.pipelines.commands.kfp",
    "fcbench.pipelines.commands.data",
    "fcbench.pipelines.commands.report",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fcbench",
        description="Benchmark feature coding of large models: bits per feature point vs task accuracy.",
    )
    from fcbench.pipelines.version import version

    parser.add_argument("--version", action="version", version=f"fcbench {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # command family not installed in this build
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, KeyError, FileNotFoundError, RuntimeError, TypeError) as exc:
        if getattr(args, "debug", False):
            raise
        print(f"fcbench {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
