"""Start a local run's tasks warm: the run side of fcbench.pipelines.task_server.

`warm_tasks()` starts the server (it imports torch & co. once, while the run gets ready), and
while it runs, the kfp local runner's task commands `... python -m kfp.dsl.executor_main ...` become `... python -I -S
task_client.py SOCKET -m kfp.dsl.executor_main ...`: the same component, run in a child of the
server. Nothing else of the runner changes (its shell, its temporary files, its log of the task's
output, its exit-status check). If the server cannot start, the run goes on cold, with a note.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import select
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

from fcbench.codecs.common import settings

CLIENT = Path(__file__).with_name("task_client.py")
START_TIMEOUT_S = 300.0  # the imports of a cold machine (first torch import after install: ~1 min)
_EXECUTOR = re.compile(r"(?P<python>\S+) -m kfp\.dsl\.executor_main")


@dataclass
class WarmServer:
    """A task server: its process and socket; it is ready once it has answered (`ready()`)."""

    proc: subprocess.Popen
    socket_path: str
    hello: Optional[dict] = None
    failed: bool = False
    tasks_sent: int = 0
    goodbye: Optional[dict] = None  # its last line: its own CPU seconds and its tasks'

    lock: threading.Lock = field(default_factory=threading.Lock)

    def ready(self) -> bool:
        """Wait for the server's first line (it has imported what it preloads); False, with one
        warning, when it does not come up."""
        with self.lock:
            if self.hello is None and not self.failed:
                assert self.proc.stdout is not None
                waiting, _, _ = select.select([self.proc.stdout], [], [], START_TIMEOUT_S)
                line = self.proc.stdout.readline() if waiting else b""
                try:
                    hello = json.loads(line)
                    if not isinstance(hello, dict) or hello.get("ready") != self.proc.pid:
                        raise ValueError(line)
                    self.hello = hello
                except ValueError:
                    self.failed = True
                    warnings.warn(f"the warm task server did not start (answered {line[:200]!r}); every task "
                                  "starts its own interpreter", stacklevel=2)
            return self.hello is not None

    def rewrite(self, command: list[str]) -> list[str]:
        """The runner's task command with the executor started through the client; a command
        without the executor (not a lightweight component), or no server, leaves it as it is."""
        if not self.ready():
            return command
        client = f"-I -S {shlex.quote(str(CLIENT))} {shlex.quote(self.socket_path)}"
        out = [_EXECUTOR.sub(lambda m: f"{m['python']} {client} -m kfp.dsl.executor_main", part) for part in command]
        with self.lock:
            self.tasks_sent += out != command
        return out

    def figures(self) -> dict:
        """What the server cost and did: tasks it ran, its preload (seconds, CPU seconds), its own
        CPU seconds and its tasks' (known once stopped)."""
        hello = self.hello or {}
        bye = self.goodbye or {}
        return {"tasks": self.tasks_sent, "preload_s": hello.get("preload_s"),
                "preload_cpu_s": hello.get("preload_cpu_s"), "not_preloaded": hello.get("not_preloaded", []),
                "server_cpu_s": bye.get("cpu_s"), "tasks_cpu_s": bye.get("tasks_cpu_s")}


def launch(env: dict[str, str], extra: tuple[str, ...] = ()) -> WarmServer:
    """Start the server with this process's environment plus the tasks' `env`, preloading
    `extra` modules too; it imports in the background until `ready()`."""
    folder = tempfile.mkdtemp(prefix="fcbench-tasks-")  # short: a socket path has at most 107 bytes
    path = os.path.join(folder, "s")
    proc = subprocess.Popen([sys.executable, "-m", "fcbench.pipelines.task_server", path, *extra], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, env={**settings.whole_environment(), **env, settings.KFP_RUNTIME.name: "true"})
    return WarmServer(proc, path)


def stop(server: WarmServer) -> None:
    """Close the server's stdin (it stops its tasks and exits) and wait for it: its CPU time and
    its children's then count as this process's children's, as cold task processes do."""
    proc = server.proc
    assert proc.stdin is not None and proc.stdout is not None  # started with both pipes
    with contextlib.suppress(OSError):
        proc.stdin.close()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if server.hello is not None:
        with contextlib.suppress(ValueError, OSError, IndexError):
            server.goodbye = json.loads(proc.stdout.read().strip().splitlines()[-1])
    with contextlib.suppress(OSError):
        proc.stdout.close()
    shutil.rmtree(os.path.dirname(server.socket_path), ignore_errors=True)


@contextlib.contextmanager
def warm_tasks(enabled: bool, env: dict[str, str], extra: tuple[str, ...] = ()) -> Iterator[Optional[WarmServer]]:
    """While inside, the kfp SubprocessRunner's tasks run in children of a warm task server
    started with the tasks' `env`, preloading `extra` modules as well (yields it; None when
    disabled)."""
    if not enabled:
        yield None
        return
    from kfp.local import subprocess_task_handler as handler

    server = launch(env, extra)
    original = handler.run_local_subprocess

    def through_server(full_command: list[str], env_vars: Optional[dict[str, str]] = None) -> Any:
        return original(full_command=server.rewrite(full_command), env_vars=env_vars)

    handler.run_local_subprocess = through_server
    try:
        yield server
    finally:
        handler.run_local_subprocess = original
        stop(server)
