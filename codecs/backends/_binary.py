"""Finding and running external codec binaries (VTM, VVenC): options, settings, PATH.

fcbench never downloads or builds these tools; a missing one raises one clear error that says
how to configure it. Every run checks the exit code and keeps the log for the error message.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal, Optional, Sequence, overload

from fcbench.codecs.backends import _watchdog
from fcbench.codecs.common import settings
from fcbench.codecs.common.types import PathLike


class BinaryNotFound(FileNotFoundError):
    """A codec binary or configuration file that is not configured or not present."""


class ToolError(RuntimeError):
    """An external codec tool failed (non-zero exit, missing output, inconsistent log)."""


@overload
def find_binary(what: str, explicit: Optional[PathLike], env_var: str, names: Sequence[str],
                option: str, required: Literal[True] = True) -> Path: ...
@overload
def find_binary(what: str, explicit: Optional[PathLike], env_var: str, names: Sequence[str],
                option: str, required: bool) -> Optional[Path]: ...
def find_binary(what: str, explicit: Optional[PathLike], env_var: str, names: Sequence[str],
                option: str, required: bool = True) -> Optional[Path]:
    """Resolve a binary: explicit option, else $env_var (a fcbench.codecs.common.settings name), else the
    first of `names` on PATH."""
    hint = (f"pass {option}=PATH (CLI: --option {option}=PATH), set {env_var}, "
            f"or put {' or '.join(names)} on PATH; fcbench does not build or ship it")
    for source, value in (("option " + option, explicit), ("$" + env_var, settings.SETTINGS[env_var].raw())):
        if value is None:
            continue
        path = Path(value).expanduser()
        if not path.is_file():
            raise BinaryNotFound(f"{what}: {source} points to {path}, which is not a file; {hint}")
        if not os.access(path, os.X_OK):
            raise BinaryNotFound(f"{what}: {path} (from {source}) is not executable")
        return path.resolve()
    for name in names:
        found = shutil.which(name)
        if found:
            return Path(found).resolve()
    if required:
        raise BinaryNotFound(f"{what} not found: {hint}")
    return None


def find_file(what: str, explicit: Optional[PathLike], env_var: str, default: Optional[Path], option: str) -> Path:
    """Resolve a configuration file: explicit option, else $env_var (a settings name), else `default`."""
    for source, value in (("option " + option, explicit), ("$" + env_var, settings.SETTINGS[env_var].raw()),
                          ("the default location", default)):
        if value is None:
            continue
        path = Path(value).expanduser()
        if not path.is_file():
            raise BinaryNotFound(f"{what}: {path} (from {source}) does not exist; pass {option}=PATH or set {env_var}")
        return path.resolve()
    raise BinaryNotFound(f"{what} not found: pass {option}=PATH or set {env_var}")


@dataclass(frozen=True)
class ToolRun:
    argv: list[str]
    returncode: int
    log: str


def tool_timeout(rows: int, cols: int, explicit: Optional[float] = None) -> Optional[float]:
    """Seconds one tool run on a rows x cols frame may take: the codec's `timeout` option when
    given (0 = no limit), else FCBENCH_TOOL_TIMEOUT_BASE + FCBENCH_TOOL_TIMEOUT_PER_MPIXEL per
    megapixel. A tool that never exits must not hold a sweep forever."""
    if explicit is not None:
        if isinstance(explicit, bool) or not isinstance(explicit, (int, float)) or explicit < 0:
            raise ValueError(f"timeout must be a number of seconds (0 = no limit), got {explicit!r}")
        return float(explicit) or None
    return settings.TOOL_TIMEOUT_BASE.get() + settings.TOOL_TIMEOUT_PER_MPIXEL.get() * rows * cols / 1e6


LOG_HEAD, LOG_TAIL = 64 << 10, 1 << 20  # what of a tool's log is kept: its banner and its last lines


def run_tool(argv: Sequence[PathLike], cwd: PathLike, what: str, timeout: Optional[float] = None,
             check: bool = True) -> ToolRun:
    """Run a tool in `cwd`, stdout+stderr as its log; raise ToolError unless it exits 0 (with
    `check`; a help run's exit status means nothing).

    The tool runs in its own process group, killed as a whole when `timeout` seconds pass, when
    the caller is interrupted, and when the caller dies (even by kill -9: _watchdog.py): a
    wrapper script's children do not outlive it. The log goes to a file, and only its first
    LOG_HEAD and last LOG_TAIL bytes are read back: a tool that logs gigabytes costs no memory."""
    args = [str(a) for a in argv]
    with tempfile.TemporaryFile(prefix="fcbench-tool-log-") as log_file:
        try:
            proc = subprocess.Popen(args, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        except OSError as exc:
            raise ToolError(f"{what} could not be started ({exc}): {' '.join(args)}") from exc
        _watchdog.guard(proc.pid)
        try:
            _wait_unreaped(proc, timeout)
        except subprocess.TimeoutExpired:
            raise ToolError(f"{what} did not finish within {timeout:.0f} s and was stopped (raise the limit with the "
                            f"codec's timeout option or FCBENCH_TOOL_TIMEOUT_BASE / _PER_MPIXEL): {' '.join(args)}") from None
        finally:
            _kill_group(proc)  # what a wrapper left running too
            _watchdog.release(proc.pid)
        log = _head_and_tail(log_file)
    if check and proc.returncode != 0:
        tail = "\n".join(log.strip().splitlines()[-15:])
        raise ToolError(f"{what} exited with status {proc.returncode}: {' '.join(args)}\n--- log tail ---\n{tail}")
    return ToolRun(args, proc.returncode, log)


def _wait_unreaped(proc: subprocess.Popen, timeout: Optional[float]) -> None:
    """Wait for the tool to exit, leaving it unreaped: until _kill_group reaps it, its pid (the
    group's id) cannot be given to another process, so the group kill hits only its own."""
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = 0.001
    while os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
        if deadline is not None and time.monotonic() > deadline:
            raise subprocess.TimeoutExpired(proc.args, timeout or 0)
        time.sleep(delay)
        delay = min(2 * delay, 0.05)


def _head_and_tail(log_file: IO[bytes]) -> str:
    size = log_file.seek(0, os.SEEK_END)
    log_file.seek(0)
    if size <= LOG_HEAD + LOG_TAIL:
        data = log_file.read()
    else:
        head = log_file.read(LOG_HEAD)
        log_file.seek(size - LOG_TAIL)
        data = head + f"\n[... {size - LOG_HEAD - LOG_TAIL} bytes of the log left out ...]\n".encode() + log_file.read()
    return data.decode("utf-8", errors="replace")


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the tool's process group (the tool, or what it left behind) and reap the tool."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
