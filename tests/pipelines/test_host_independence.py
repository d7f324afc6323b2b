"""The compiled IR holds nothing of the compiling machine, and importing a pipeline runs nothing:
two simulated hosts with different codec builds (x265 library hash, a VTM binary that exists on
one of them only) compile byte-identical pipelines, and no codec is even built while importing
or compiling (issue: benchmark.py used to encode with x265 and hash libx265 when imported)."""
import os
import subprocess
import sys

import pytest

from tests.pipelines.test_golden import IMAGE_ENV, body

PIPELINES = ("benchmark", "benchmark-traditional", "train_hyperprior", "full")

# A "host": patch how codecs identify themselves before anything of fcbench's pipelines is imported.
HOST = """
import sys
from fcbench.codecs.backends import x265
from fcbench.codecs import protocol
x265.x265_library_sha256 = lambda: {sha!r}
if {forbid_codecs}:
    def _refuse(*args, **kwargs):
        raise AssertionError("a codec was built while importing or compiling a pipeline")
    protocol.Codec.__init__ = _refuse
from kfp import compiler
from fcbench.pipelines.commands.kfp import load_pipeline
for name, out in zip(sys.argv[1::2], sys.argv[2::2]):
    compiler.Compiler().compile(load_pipeline(name), out)
"""


def compile_on_host(tmp_path, host: str, sha: str, vtm: str, forbid_codecs: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in IMAGE_ENV}
    env.update(FCBENCH_VTM_ENCODER=vtm, HOME=str(tmp_path / host))
    outs = {name: tmp_path / f"{host}-{name}.yaml" for name in PIPELINES}
    args = [a for name, out in outs.items() for a in (name, str(out))]
    code = HOST.format(sha=sha, forbid_codecs=forbid_codecs)
    proc = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {name: out.read_text() for name, out in outs.items()}


@pytest.fixture(scope="module")
def two_hosts(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hosts")
    vtm = tmp / "EncoderAppStatic"
    vtm.write_text("#!/bin/sh\necho VTM\n")
    vtm.chmod(0o755)
    a = compile_on_host(tmp, "laptop", "a" * 64, str(tmp / "missing" / "EncoderAppStatic"), forbid_codecs=True)
    b = compile_on_host(tmp, "workstation", "b" * 64, str(vtm), forbid_codecs=False)
    return a, b


@pytest.mark.parametrize("name", PIPELINES)
def test_two_hosts_compile_identical_ir(two_hosts, name):
    a, b = two_hosts
    assert body(a[name]) == body(b[name])


@pytest.mark.parametrize("name", PIPELINES)
def test_no_host_value_in_the_ir(two_hosts, name):
    text = two_hosts[0][name]
    for host_value in ("a" * 64, "/home/", "/root/", "/tmp/", "/work/"):
        assert host_value not in text, f"{host_value!r} in the IR of {name}"
