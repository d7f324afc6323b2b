"""What a local run's task command runs in place of `python -m MODULE ARGS` when the warm task
server is up (fcbench.pipelines.warm_tasks rewrites the command):

    python -I -S task_client.py SOCKET_PATH -m MODULE ARGS...

It hands the server its command line, environment, working folder and stdin/stdout/stderr, then
waits for the task's exit status and exits with it. It imports the standard library only, and
starts without site-packages (-S): it costs a few milliseconds, not the seconds of a task
process's imports. SIGTERM and SIGHUP are passed on to the task; Ctrl-C reaches the task
directly (it is in the terminal's process group). When the server cannot be reached, it runs
the task the ordinary way.
"""
import json
import os
import signal
import socket
import struct
import sys

HEADER = struct.Struct("!I")  # the same framing as task_server.read_request
LOST = 70  # EX_SOFTWARE: the server went away without the task's status


def run_ordinarily(argv: list) -> None:
    print(f"fcbench task client: task server unreachable, running {argv[1]} in a new interpreter", file=sys.stderr,
          flush=True)
    os.execv(sys.executable, [sys.executable, *argv])


def main() -> int:
    if len(sys.argv) < 4 or sys.argv[2] != "-m":
        print("usage: task_client.py SOCKET_PATH -m MODULE [ARGS...]", file=sys.stderr)
        return 2
    path, argv = sys.argv[1], sys.argv[2:]
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
    except OSError:
        run_ordinarily(argv)
    body = json.dumps({"argv": argv, "env": dict(os.environ), "cwd": os.getcwd()}).encode()
    socket.send_fds(conn, [HEADER.pack(len(body)) + body], [0, 1, 2])
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    pid: list = []  # the task's pid once the server names it
    pending: list = []  # signals that came before

    def forward(signum: int, _frame: object) -> None:
        if not pid:
            pending.append(signum)  # passed on as soon as the server names the task
            return
        try:
            os.kill(pid[0], signum)
        except ProcessLookupError:
            pass

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, forward)
    for line in conn.makefile("r"):
        message = json.loads(line)
        if "pid" in message:
            pid.append(int(message["pid"]))
            for signum in pending:
                forward(signum, None)
        if "exit" in message:
            return int(message["exit"])
    print("fcbench task client: the task server closed the connection without the task's exit status",
          file=sys.stderr)
    return LOST


if __name__ == "__main__":
    sys.exit(main())
