"""The warm task server of local runs (pipelines/task_server.py, task_client.py): a task run through
it behaves as `python -m MODULE` run by the runner would (arguments, environment, folder, streams,
exit status, fresh random state), and no task outlives its client or the server's starter."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from fcbench.pipelines import warm_tasks
from fcbench.pipelines.task_client import LOST

PROBE = '''
import json, os, sys, time
import numpy as np
mode = sys.argv[1]
if mode == "facts":
    print(json.dumps({"argv": sys.argv[1:], "cwd": os.getcwd(), "var": os.environ.get("PROBE_VAR"),
                      "draw": float(np.random.random()), "stdin": sys.stdin.read(), "ppid": os.getppid()}))
    print("to stderr", file=sys.stderr)
elif mode == "exit":
    sys.exit(int(sys.argv[2]))
elif mode == "raise":
    raise RuntimeError("probe failed on purpose")
elif mode == "thread":  # a non-daemon thread finishes before the process ends, as in an interpreter
    import atexit, threading
    atexit.register(lambda: print("exit handler ran", flush=True))
    threading.Thread(target=lambda: (time.sleep(0.5), print("thread done", flush=True))).start()
elif mode == "sleep":
    open(sys.argv[2], "w").write(str(os.getpid()))
    time.sleep(60)
'''


@pytest.fixture()
def server(tmp_path):
    """A task server preloading numpy only, with the probe module on its path."""
    (tmp_path / "probe_task.py").write_text(textwrap.dedent(PROBE))
    sock = str(tmp_path / "s")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "fcbench.pipelines.task_server", sock, "--only", "numpy"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    hello = json.loads(proc.stdout.readline())
    assert hello["ready"] == proc.pid and hello["not_preloaded"] == []
    yield proc, sock, env
    proc.stdin.close()
    proc.wait(timeout=30)


def client(sock, *args, env, **kw):
    return subprocess.run([sys.executable, "-I", "-S", str(warm_tasks.CLIENT), sock, "-m", "probe_task", *args],
                          env=env, capture_output=True, text=True, timeout=60, **kw)


def test_a_task_gets_its_arguments_environment_folder_and_streams(server, tmp_path):
    proc, sock, env = server
    (tmp_path / "here").mkdir()
    done = client(sock, "facts", "x y", env={**env, "PROBE_VAR": "from the client"}, cwd=tmp_path / "here",
                  input="piped in")
    assert done.returncode == 0, done.stderr
    facts = json.loads(done.stdout)
    assert facts["argv"] == ["facts", "x y"] and facts["var"] == "from the client"
    assert facts["cwd"] == str(tmp_path / "here") and facts["stdin"] == "piped in"
    assert facts["ppid"] == proc.pid  # it really ran in a child of the server
    assert done.stderr == "to stderr\n"


def test_tasks_draw_different_random_numbers(server):
    _, sock, env = server
    draws = {json.loads(client(sock, "facts", env=env).stdout)["draw"] for _ in range(3)}
    assert len(draws) == 3


def test_exit_status_and_uncaught_errors_come_back(server):
    _, sock, env = server
    assert client(sock, "exit", "3", env=env).returncode == 3
    failed = client(sock, "raise", env=env)
    assert failed.returncode == 1
    assert "RuntimeError: probe failed on purpose" in failed.stderr and "Traceback" in failed.stderr


def test_the_task_ends_as_an_interpreter_ends(server):
    _, sock, env = server
    done = client(sock, "thread", env=env)
    assert done.returncode == 0 and done.stdout == "thread done\nexit handler ran\n"


def _wait_for_pid(path: Path) -> int:
    for _ in range(200):
        if path.is_file() and path.read_text():
            return int(path.read_text())
        time.sleep(0.05)
    raise AssertionError("the task never started")


def _gone(pid: int, within: float = 10.0) -> bool:
    end = time.monotonic() + within
    while time.monotonic() < end:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def sleeping_task(sock, env, folder, **kw):
    """A client whose task sleeps; returns the client process and the task's pid."""
    marker = folder / "pid"
    waiting = subprocess.Popen([sys.executable, "-I", "-S", str(warm_tasks.CLIENT), sock, "-m", "probe_task", "sleep",
                                str(marker)], env=env, **kw)
    return waiting, _wait_for_pid(marker)


def test_a_killed_client_takes_its_task_with_it(server, tmp_path):
    _, sock, env = server
    waiting, task = sleeping_task(sock, env, tmp_path)
    waiting.kill()
    waiting.wait()
    assert _gone(task), "the task outlived its client (killed with -9)"


def test_sigterm_to_the_client_reaches_the_task(server, tmp_path):
    _, sock, env = server
    waiting, task = sleeping_task(sock, env, tmp_path)
    waiting.send_signal(signal.SIGTERM)
    assert waiting.wait(timeout=10) == 128 + signal.SIGTERM
    assert _gone(task)


def test_the_server_stops_its_tasks_when_its_starter_goes(server, tmp_path):
    proc, sock, env = server
    waiting, task = sleeping_task(sock, env, tmp_path, stderr=subprocess.PIPE)
    proc.stdin.close()  # what the starter's death does to the pipe
    assert proc.wait(timeout=15) == 0
    assert _gone(task)
    assert waiting.wait(timeout=10) == 128 + signal.SIGTERM


def test_a_bad_request_is_refused_and_the_server_serves_on(server):
    import socket

    _, sock, env = server
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(sock)
    body = json.dumps({"argv": ["-c", "print(1)"], "env": {}, "cwd": "/"}).encode()
    socket.send_fds(conn, [len(body).to_bytes(4, "big") + body], [0, 1, 2])
    assert conn.recv(100) == b""  # closed without running anything
    conn.close()
    assert client(sock, "exit", "0", env=env).returncode == 0


def test_without_a_server_the_client_runs_the_task_itself(tmp_path):
    (tmp_path / "probe_task.py").write_text(textwrap.dedent(PROBE))
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = client(str(tmp_path / "no-such-socket"), "exit", "4", env=env)
    assert done.returncode == 4
    assert "task server unreachable" in done.stderr


def test_a_lost_server_is_an_error_not_a_success(server, tmp_path):
    proc, sock, env = server
    waiting, task = sleeping_task(sock, env, tmp_path, stderr=subprocess.PIPE, text=True)
    proc.kill()
    proc.wait()
    assert waiting.wait(timeout=15) == LOST
    assert _gone(task), "the task outlived its server (killed with -9)"
    assert "without the task's exit status" in waiting.stderr.read()


def test_the_runner_command_goes_through_the_client():
    server = warm_tasks.WarmServer(proc=None, socket_path="/tmp/x y/s", hello={"ready": 1})  # type: ignore[arg-type]
    command = ["sh", "-ec", 'p=$(mktemp -d)\n_KFP_RUNTIME=true /venv/bin/python -m kfp.dsl.executor_main '
               '--component_module_path "$p/c.py" "$@"', "source"]
    rewritten = server.rewrite(command)
    assert rewritten[2].endswith(f"/venv/bin/python -I -S {warm_tasks.CLIENT} '/tmp/x y/s' -m kfp.dsl.executor_main "
                                 '--component_module_path "$p/c.py" "$@"')
    assert rewritten[:2] == ["sh", "-ec"] and rewritten[3] == "source" and server.tasks_sent == 1
    assert server.rewrite(["docker", "run", "x"]) == ["docker", "run", "x"] and server.tasks_sent == 1
