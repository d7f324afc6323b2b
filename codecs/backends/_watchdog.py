"""Codec tool processes die with the process that started them, even when it is killed with -9.

A tool runs in a process group of its own (so that a wrapper script's children can be killed with
it). Nothing kills that group when its starter dies without cleaning up (kill -9, OOM killer): the
encoder would run on, holding CPU and memory, after the sweep is gone. Each process that runs tools
therefore starts one small watchdog, connected by a pipe, and tells it every group it starts
("+pgid") and ends ("-pgid"). The pipe closes when the starter dies, however it dies; the watchdog
then kills the groups still listed and exits. No pre-exec hook is needed (unsafe with threads).
"""
from __future__ import annotations

import atexit
import os
import subprocess
import sys
import threading
from typing import Optional

_WATCHDOG = r"""
import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C reaches the starter, which cleans up itself
groups = set()
for line in sys.stdin:
    sign, pgid = line[:1], int(line[1:])
    if sign == "+":
        groups.add(pgid)
    else:
        groups.discard(pgid)
for pgid in groups:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass
"""


class Watchdog:
    """The watchdog process of this process (one per pid: a forked worker starts its own)."""

    _lock = threading.Lock()
    _mine: Optional["Watchdog"] = None

    def __init__(self) -> None:
        self.pid_of_starter = os.getpid()
        self.proc = subprocess.Popen([sys.executable, "-S", "-c", _WATCHDOG], stdin=subprocess.PIPE,
                                     start_new_session=True, close_fds=True)

    @classmethod
    def tell(cls, message: str) -> None:
        """Send one line to this process's watchdog, starting (or restarting) it when needed."""
        with cls._lock:
            dog = cls._mine
            if dog is None or dog.pid_of_starter != os.getpid() or dog.proc.poll() is not None:
                dog = cls._mine = Watchdog()
            assert dog.proc.stdin is not None
            try:
                os.write(dog.proc.stdin.fileno(), f"{message}\n".encode())
            except BrokenPipeError:  # it died between the check and the write: once more with a new one
                dog = cls._mine = Watchdog()
                assert dog.proc.stdin is not None
                os.write(dog.proc.stdin.fileno(), f"{message}\n".encode())

    @classmethod
    def stop(cls) -> None:
        """Close the pipe: the watchdog kills any group not yet released, and exits."""
        with cls._lock:
            dog, cls._mine = cls._mine, None
        if dog is not None and dog.pid_of_starter == os.getpid() and dog.proc.stdin is not None:
            dog.proc.stdin.close()
            try:
                dog.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                dog.proc.kill()


def guard(pgid: int) -> None:
    """Kill process group `pgid` if this process dies before `release(pgid)`."""
    Watchdog.tell(f"+{pgid}")


def release(pgid: int) -> None:
    Watchdog.tell(f"-{pgid}")


atexit.register(Watchdog.stop)
