"""The warm task server of a local run: tasks start from a process that has already imported the
heavy packages, instead of importing them again each.

The kfp local runner starts every task as a new Python process. Each of them imports torch,
CompressAI, MLflow and fcbench again: on the demo that was ~30 CPU seconds of its ~113 (the
same work called directly took 83). This server imports them once, then listens on a Unix
socket; `task_client.py` (what the runner's task command runs instead of `python -m ...`) sends
it the task's command line, environment, working folder and its stdin/stdout/stderr, and the
server forks a child that runs the module as `python -m` would. The child exits as a task
process does (exit handlers, flushed streams); its exit status goes back to the client.

Safety of forking: the server only imports (it runs no torch operation, so no OpenMP pool
exists to be broken by the fork) and stays single-threaded at the Python level; a child gets its
own random seeds and the task's environment. The server exits when the process that started it
closes its stdin (however that process ends); a client that disappears gets its child stopped.

    python -m fcbench.pipelines.task_server SOCKET_PATH [--only] [MODULE...]
    (MODULE: preloaded as well; --only: instead of the default list)
"""
from __future__ import annotations

import atexit
import importlib
import io
import json
import os
import resource
import selectors
import signal
import socket
import struct
import sys
import time
from dataclasses import dataclass, field
from typing import Optional

# What the tasks import, at import time or while they work (torchvision brings torch._dynamo,
# which the machines and the optimizer load on first use; the trainings draw their curves with
# pyplot); a package that is not installed is skipped (the task then fails or succeeds exactly as
# without the server). fcbench's packages are imported whole: their modules import heavy
# packages only inside functions (a machine's transformers, say), so this stays cheap (~0.8 s).
# The starter adds more: mlflow when the run tracks (1.3 CPU seconds an untracked run would not
# spend).
PRELOAD = ("kfp.dsl.executor_main", "numpy", "torch", "torchvision", "compressai", "scipy.interpolate",
           "matplotlib.pyplot", "av", "PIL.Image", "pydantic", "yaml", "fcbench.codecs", "fcbench.components",
           "fcbench.machines")
STOP_GRACE_S = 5.0
MAX_REQUEST = 4 << 20
HEADER = struct.Struct("!I")


def preload(modules: tuple[str, ...] = PRELOAD) -> list[str]:
    """Import `modules` (an fcbench package with all its modules); returns those that could
    not be imported."""
    import pkgutil

    missing = []
    for name in modules:
        try:
            module = _import(name)
        except Exception:  # noqa: BLE001 - an optional package; the task imports (or fails on) it itself
            missing.append(name)
            continue
        if name.startswith("fcbench.") and hasattr(module, "__path__"):
            for info in pkgutil.walk_packages(module.__path__, f"{name}."):  # type: ignore[attr-defined]
                try:
                    importlib.import_module(info.name)
                except Exception:  # noqa: BLE001
                    missing.append(info.name)
    if "matplotlib" in sys.modules:
        sys.modules["matplotlib"].use("Agg")  # type: ignore[attr-defined]  # what a headless task picks anyway
    return missing


def _import(name: str) -> object:
    if name == "compressai":  # as the hyperprior imports it: without torch_geometric (~4.5 CPU s)
        from fcbench.codecs.hyperprior.lean_compressai import load

        return load()
    return importlib.import_module(name)


def read_request(conn: socket.socket) -> tuple[dict, list[int]]:
    """The client's request: a length-prefixed JSON object and, with its first bytes, three fds
    (closed again when the request is refused)."""
    data, fds, _, _ = socket.recv_fds(conn, 1 << 16, 3)
    try:
        return _parse_request(conn, data, fds), fds
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise


def _parse_request(conn: socket.socket, data: bytes, fds: list[int]) -> dict:
    while len(data) < HEADER.size or len(data) < HEADER.size + HEADER.unpack_from(data)[0]:
        if len(data) > HEADER.size and HEADER.unpack_from(data)[0] > MAX_REQUEST:
            raise ValueError("task request too large")
        more = conn.recv(1 << 16)
        if not more:
            raise ConnectionError("client closed the connection before its request was complete")
        data += more
    (size,) = HEADER.unpack_from(data)
    request = json.loads(data[HEADER.size:HEADER.size + size])
    argv = request.get("argv") if isinstance(request, dict) else None
    if len(fds) != 3 or not isinstance(argv, list) or len(argv) < 2 or argv[0] != "-m":
        raise ValueError(f"bad task request: {len(fds)} fds, argv {argv!r} (expected '-m MODULE ...')")
    return request


# ---------------------------------------------------------------- the child: one task process
def _stream(fd: int, mode: str, env: dict) -> io.TextIOWrapper:
    """A text stream on `fd` buffered as Python's start-up buffers stdin/stdout/stderr."""
    unbuffered = bool(env.get("PYTHONUNBUFFERED"))
    line = mode == "w" and (fd == 2 or unbuffered or os.isatty(fd))
    raw = io.FileIO(fd, mode, closefd=False)
    buffered = (io.BufferedWriter(raw) if mode == "w" else io.BufferedReader(raw))
    return io.TextIOWrapper(buffered, encoding=env.get("PYTHONIOENCODING") or "utf-8",
                            errors="backslashreplace" if fd == 2 else "strict", line_buffering=line,
                            write_through=unbuffered and mode == "w")


def _exit_code(exc: SystemExit) -> int:
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def run_child(request: dict, fds: list[int]) -> int:
    """In the forked child: become the task process and run its module; returns the exit code."""
    import runpy

    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    from fcbench.codecs.common import settings

    env = {str(k): str(v) for k, v in request["env"].items()}
    settings.become_environment(env)
    os.chdir(request["cwd"])
    sys.stdin, sys.stdout, sys.stderr = _stream(0, "r", env), _stream(1, "w", env), _stream(2, "w", env)
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = sys.stdin, sys.stdout, sys.stderr  # type: ignore[misc]
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _fresh_process_state(env)
    module, args = request["argv"][1], request["argv"][2:]
    sys.argv = [module, *args]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        code = _exit_code(exc)
    except KeyboardInterrupt:
        code = 128 + signal.SIGINT
    except BaseException:  # noqa: BLE001 - what the interpreter does with an uncaught exception
        sys.excepthook(*sys.exc_info())
        code = 1
    return code


def _fresh_process_state(env: dict) -> None:
    """What a new interpreter would not share with its siblings: numpy's global random state
    (Python's `random` reseeds itself after a fork), torch's thread count (OpenMP reads
    OMP_NUM_THREADS when a process starts) and the task's PYTHONPATH entries in front of sys.path."""
    for entry in reversed([p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p not in sys.path]):
        sys.path.insert(0, entry)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()
    threads = env.get("OMP_NUM_THREADS", "").strip()
    if "torch" in sys.modules and threads.isdigit() and int(threads) > 0:
        sys.modules["torch"].set_num_threads(int(threads))


def _finish_child(code: int) -> None:
    """End the child as an interpreter ends: wait for its non-daemon threads (an upload queue,
    say), run the exit handlers, flush the streams, then _exit (never back into the server's loop)."""
    try:
        import threading

        shutdown = getattr(threading, "_shutdown", None)  # what Py_FinalizeEx calls first
        if shutdown is not None:
            shutdown()
        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001 - a closed pipe at exit is not the task's failure
                pass
    finally:
        os._exit(code)


# ---------------------------------------------------------------- the server
@dataclass
class Task:
    conn: socket.socket
    pid: int
    pidfd: Optional[int]
    stop_at: Optional[float] = None


@dataclass
class Server:
    listener: socket.socket
    control_fd: int  # the starter's pipe: EOF = stop
    selector: selectors.BaseSelector = field(default_factory=selectors.DefaultSelector)
    tasks: dict[int, Task] = field(default_factory=dict)
    stopping: bool = False

    def serve(self) -> None:
        self.selector.register(self.listener, selectors.EVENT_READ, "accept")
        self.selector.register(self.control_fd, selectors.EVENT_READ, "control")
        while not (self.stopping and not self.tasks):
            for key, _ in self.selector.select(timeout=0.5):
                kind = key.data
                if kind == "accept":
                    self.accept()
                elif kind == "control":
                    if not os.read(self.control_fd, 4096):
                        self.stop_all()
                elif kind[0] == "exited":
                    self.reap(kind[1])
                elif kind[0] == "client":
                    self.client_readable(kind[1])
            self.poll_without_pidfd()
            self.kill_overdue()

    def accept(self) -> None:
        conn, _ = self.listener.accept()
        try:
            request, fds = read_request(conn)
        except (ValueError, ConnectionError, OSError) as exc:
            print(f"fcbench task server: {exc}", file=sys.stderr, flush=True)
            conn.close()
            return
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        server_pid = os.getpid()
        pid = os.fork()
        if pid == 0:
            try:
                _die_with(server_pid)
                self.close_in_child(conn)
                code = run_child(request, fds)
            except BaseException:  # noqa: BLE001 - never return into the server loop
                code = 70
            _finish_child(code)
        for fd in fds:
            os.close(fd)
        pidfd = _pidfd(pid)
        task = self.tasks[pid] = Task(conn, pid, pidfd)
        if pidfd is not None:
            self.selector.register(pidfd, selectors.EVENT_READ, ("exited", pid))
        self.selector.register(conn, selectors.EVENT_READ, ("client", pid))
        self.send(task, {"pid": pid})

    def close_in_child(self, conn: socket.socket) -> None:
        """The child keeps none of the server's descriptors: a sibling holding another client's
        socket would hide that client's disappearance."""
        self.selector.close()
        for fd in (self.listener.fileno(), self.control_fd, conn.fileno(),
                   *(t.conn.fileno() for t in self.tasks.values()),
                   *(t.pidfd for t in self.tasks.values() if t.pidfd is not None)):
            try:
                os.close(fd)
            except OSError:
                pass

    def send(self, task: Task, message: dict) -> None:
        try:
            task.conn.sendall(json.dumps(message).encode() + b"\n")
        except OSError:
            pass  # the client is gone; client_readable stops the task

    def client_readable(self, pid: int) -> None:
        task = self.tasks[pid]
        try:
            data = task.conn.recv(4096)
        except OSError:
            data = b""
        if not data:  # the client died (or was killed): its task must not run on
            self.selector.unregister(task.conn)
            self.terminate(task)

    def terminate(self, task: Task) -> None:
        if task.stop_at is None:
            _signal(task.pid, signal.SIGTERM)
            task.stop_at = time.monotonic() + STOP_GRACE_S

    def kill_overdue(self) -> None:
        now = time.monotonic()
        for task in self.tasks.values():
            if task.stop_at is not None and now > task.stop_at:
                _signal(task.pid, signal.SIGKILL)

    def poll_without_pidfd(self) -> None:
        for pid in [p for p, t in self.tasks.items() if t.pidfd is None]:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                self.reap(pid, status)

    def reap(self, pid: int, status: Optional[int] = None) -> None:
        """Collect a finished child (`status` when already collected) and tell its client."""
        task = self.tasks.pop(pid)
        if status is None:
            _, status = os.waitpid(pid, 0)
        if task.pidfd is not None:
            self.selector.unregister(task.pidfd)
            os.close(task.pidfd)
        code = os.waitstatus_to_exitcode(status)
        self.send(task, {"exit": code if code >= 0 else 128 - code})
        if task.conn.fileno() in self.selector.get_map():
            self.selector.unregister(task.conn)
        task.conn.close()

    def stop_all(self) -> None:
        self.stopping = True
        self.selector.unregister(self.control_fd)
        self.selector.unregister(self.listener)
        for task in self.tasks.values():
            self.terminate(task)


def _die_with(server_pid: int) -> None:
    """A task gets SIGTERM when the server dies, even by SIGKILL (Linux: PR_SET_PDEATHSIG): an
    orphan would run on with nobody to collect its status."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != server_pid:  # it died before the call above
        os._exit(128 + signal.SIGTERM)


def _pidfd(pid: int) -> Optional[int]:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):  # no pidfd (old kernel): polled with waitpid instead
        return None


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def main(argv: Optional[list[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        print("usage: python -m fcbench.pipelines.task_server SOCKET_PATH [--only] [MODULE...]", file=sys.stderr)
        return 2
    only = argv[1:2] == ["--only"]
    modules = tuple(argv[2:]) if only else (*PRELOAD, *argv[1:])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the tasks and the runner, which stop us
    t0, cpu0 = time.perf_counter(), time.process_time()
    missing = preload(modules)
    figures = {"preload_s": round(time.perf_counter() - t0, 2), "preload_cpu_s": round(time.process_time() - cpu0, 2)}
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(argv[0])
    listener.listen(16)
    print(json.dumps({"ready": os.getpid(), "not_preloaded": missing, **figures}), flush=True)
    Server(listener, sys.stdin.fileno()).serve()
    print(json.dumps({"cpu_s": _cpu(resource.RUSAGE_SELF), "tasks_cpu_s": _cpu(resource.RUSAGE_CHILDREN)}), flush=True)
    return 0


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return round(usage.ru_utime + usage.ru_stime, 2)


if __name__ == "__main__":
    sys.exit(main())
