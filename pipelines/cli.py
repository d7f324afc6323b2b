"""The `fcbench` command line: one entry point, one module per command family.

Each module in COMMAND_MODULES defines `register(subparsers)`, adding sub-commands whose
parsers set `func=callable(args) -> int`. `main(argv)` is what tests call directly.
"""
from __future__ import annotations

import argparse
import difflib
import importlib
import re
import signal
import sys
import threading
from typing import Optional, Sequence

from fcbench.codecs.common.types import BadArgument

COMMAND_MODULES = (
    "fcbench.pipelines.commands.core",
    "fcbench.pipelines.commands.codec",
    "fcbench.pipelines.commands.ranges",
    "fcbench.pipelines.commands.klt",
    "fcbench.pipelines.commands.hyperprior",
    "fcbench.pipelines.commands.machines",
    "fcbench.pipelines.commands.kfp",
    "fcbench.pipelines.commands.kubeflow",
    "fcbench.pipelines.commands.data",
    "fcbench.pipelines.commands.report",
)


_NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^-(inf|infinity|nan)$", re.IGNORECASE)


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: the error and where to find the usage (sub-commands are
    made with the same class), exit status 2."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # argparse takes `-inf` and `-1e-3` for options (its negative numbers are digits and a
        # dot): `--low -inf` would fail with "expected at least one argument" instead of a
        # message about the value.
        self._negative_number_matcher = _NEGATIVE_NUMBER

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}{self._did_you_mean()} (see `{self.prog} --help`)\n")

    def _did_you_mean(self) -> str:
        """For a misspelt option (`--featurs`): the option of this command it is closest to.
        argparse reports a missing required option first, which then says nothing of the typo."""
        parsers = [self]
        for action in self._actions:  # the top-level parser reports a sub-command's unknown options
            if isinstance(action, argparse._SubParsersAction):
                parsers += [action.choices[a] for a in _ARGV if a in action.choices][:1]
        known = [s for parser in parsers for action in parser._actions for s in action.option_strings
                 if s.startswith("--")]
        typos = [a.split("=", 1)[0] for a in _ARGV if a.startswith("--") and a.split("=", 1)[0] not in known]
        for typo in typos:
            close = difflib.get_close_matches(typo, known, n=1, cutoff=0.75)
            if close:
                return f"; {typo} is not an option of {parsers[-1].prog}: did you mean {close[0]}?"
        return ""


_ARGV: list[str] = []  # the command line being parsed (for Parser's suggestions)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
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


class Terminated(KeyboardInterrupt):
    """SIGTERM: stop like Ctrl-C (every `finally` and atomic write cleans up), exit 143."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated()


def main(argv: Optional[Sequence[str]] = None) -> int:
    if threading.current_thread() is threading.main_thread():  # a command stops cleanly on SIGTERM too
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
        try:
            return _main(argv)
        finally:
            signal.signal(signal.SIGTERM, previous)
    return _main(argv)


def _main(argv: Optional[Sequence[str]]) -> int:
    parser = build_parser()
    _ARGV[:] = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except Terminated:
        print("stopped by SIGTERM", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if getattr(args, "debug", False) or not is_expected(exc):
            raise  # a bug: the traceback is what a report needs
        if isinstance(exc, BadArgument):  # the command line's fault, as argparse's own errors
            print(f"fcbench {args.command}: error: {describe(exc)} (see `fcbench {args.command} --help`)", file=sys.stderr)
            return 2
        print(f"fcbench {args.command}: error: {describe(exc)}", file=sys.stderr)
        return 1


def _library_errors() -> tuple[type, ...]:
    """The error bases of the client libraries a command may have used (only those already
    imported: the command line never imports MLflow or minio for this)."""
    found = []
    for module, name in (("mlflow.exceptions", "MlflowException"), ("minio.error", "MinioException"),
                         ("urllib3.exceptions", "HTTPError"), ("requests.exceptions", "RequestException"),
                         ("kfp_server_api.exceptions", "OpenApiException"), ("av.error", "FFmpegError")):
        cls = getattr(sys.modules.get(module), name, None)
        if isinstance(cls, type):
            found.append(cls)
    return tuple(found)


def is_expected(exc: BaseException) -> bool:
    """An error a user can cause and fix (bad input, files, servers), not a bug in fcbench. Storage
    and tool errors are RuntimeErrors; file and network errors OSErrors."""
    return isinstance(exc, (ValueError, LookupError, OSError, RuntimeError, TypeError, *_library_errors()))


def describe(exc: BaseException) -> str:
    """The message of an expected error, naming the file, URI or server it is about."""
    if isinstance(exc, OSError) and exc.filename is not None:
        names = f"{exc.filename}" + (f" -> {exc.filename2}" if exc.filename2 is not None else "")
        return f"{names}: {exc.strerror or exc}"
    if isinstance(exc, KeyError) and len(exc.args) == 1:
        return str(exc.args[0])
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, _library_errors()):  # third-party text: its first line, and whose it is
        return f"{type(exc).__name__}: {text.splitlines()[0]}"
    return text


if __name__ == "__main__":
    sys.exit(main())
