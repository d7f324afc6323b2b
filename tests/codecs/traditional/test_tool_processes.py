"""A codec tool's processes end with the run that started them: on a timeout, after a normal
exit (what a wrapper left behind), and when the starter is killed with -9 (#24 item 7); the
version probe obeys the tool-time setting; a huge log costs no memory (#24 item 6)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from fcbench.codecs import get_codec
from fcbench.codecs.backends._binary import LOG_HEAD, LOG_TAIL, ToolError, run_tool
from tests.faults import is_running
from tests.paths import REPO

SLEEP = "sleep"


def script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return path


def wait_until_gone(pids: list[int], seconds: float = 10.0) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(is_running(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if is_running(p)]


def test_a_killed_starter_takes_its_tool_and_the_tools_children_along(tmp_path):
    pids = tmp_path / "pids"
    tool = script(tmp_path / "tool", f"echo $$ >> {pids}; {SLEEP} 600 & echo $! >> {pids}; wait")
    starter = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        from fcbench.codecs.backends._binary import run_tool
        run_tool([{str(tool)!r}], {str(tmp_path)!r}, "a tool")
        """)], cwd=REPO, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(pids.read_text().split() if pids.exists() else []) < 2:
        time.sleep(0.05)
    tool_pids = [int(p) for p in pids.read_text().split()]
    assert len(tool_pids) == 2 and all(is_running(p) for p in tool_pids)
    os.kill(starter.pid, signal.SIGKILL)
    starter.wait()
    assert wait_until_gone(tool_pids) == [], "the tool (or its child) outlived the process that started it"


def test_children_a_tool_leaves_behind_are_stopped_when_it_exits(tmp_path):
    pidfile = tmp_path / "child.pid"
    tool = script(tmp_path / "tool", f"{SLEEP} 600 > /dev/null 2>&1 & echo $! > {pidfile}; echo done")
    run = run_tool([tool], tmp_path, "a tool", timeout=30)
    assert run.returncode == 0 and run.log.strip() == "done"
    assert wait_until_gone([int(pidfile.read_text())], 5) == []


def test_a_huge_log_keeps_its_head_and_tail_only(tmp_path):
    tool = script(tmp_path / "tool", "echo first line; yes 'a line of a chatty tool' | head -c 8000000; echo; echo last line")
    log = run_tool([tool], tmp_path, "a tool", timeout=60).log
    assert log.startswith("first line") and log.rstrip().endswith("last line")
    assert "bytes of the log left out" in log and len(log) < LOG_HEAD + LOG_TAIL + 200


def test_a_version_probe_that_hangs_is_stopped_by_the_tool_time_setting(tmp_path, monkeypatch):
    pidfile = tmp_path / "child.pid"
    encoder = script(tmp_path / "EncoderAppStatic", f"{SLEEP} 600 & echo $! > {pidfile}; wait")
    cfg = tmp_path / "encoder_intra_vtm.cfg"
    cfg.write_text("")
    monkeypatch.setenv("FCBENCH_TOOL_TIMEOUT_BASE", "1")
    start = time.monotonic()
    with pytest.raises(ToolError, match=r"EncoderAppStatic --help \(its version\) did not finish within 1 s"):
        get_codec("vtm", encoder=encoder, cfg=cfg, decoder="pyav").identity
    assert time.monotonic() - start < 10
    assert wait_until_gone([int(pidfile.read_text())], 5) == []
