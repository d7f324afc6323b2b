"""The compiled benchmark pipeline is checked in (pipelines/golden/benchmark.yaml) and diffed.

Regenerate it after an intended change with the explicit switch:
    FCBENCH_REGEN_GOLDEN=1 .venv/bin/pytest tests/pipelines/test_golden.py
It is compiled in a fresh process with the default image settings (components/stages/container_images.py reads
the image environment when the components are imported).
"""
import difflib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fcbench.codecs.common import settings
from tests.paths import REPO

GOLDEN = REPO / "pipelines" / "golden" / "benchmark.yaml"
REGEN = settings.REGEN_GOLDEN.get()
IMAGE_ENV = ("FCBENCH_IMAGE_REGISTRY", "FCBENCH_IMAGE_TAG", "FCBENCH_CODEC_IMAGE", "FCBENCH_GPU_IMAGE")


def compile_fresh(out: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in IMAGE_ENV}
    code = ("import sys; from kfp import compiler; from fcbench.pipelines.benchmark import benchmark; "
            "compiler.Compiler().compile(benchmark, sys.argv[1])")
    proc = subprocess.run([sys.executable, "-c", code, str(out)], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return out.read_text()


def body(text: str) -> list[str]:
    """The spec without KFP's header comments: they render the parameter defaults in protobuf map
    order, which differs from process to process; the spec itself is deterministic."""
    return [line for line in text.splitlines(True) if not line.startswith("#")]


@pytest.mark.slow  # compiles in a fresh interpreter
def test_benchmark_pipeline_matches_the_golden_yaml(tmp_path):
    text = compile_fresh(tmp_path / "benchmark.yaml")
    if REGEN:
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(text)
        pytest.skip(f"regenerated {GOLDEN}")
    assert GOLDEN.is_file(), f"{GOLDEN} is missing: regenerate with FCBENCH_REGEN_GOLDEN=1"
    golden, compiled = body(GOLDEN.read_text()), body(text)
    if compiled != golden:
        diff = "".join(list(difflib.unified_diff(golden, compiled, "golden", "compiled"))[:80])
        pytest.fail(f"compiled benchmark pipeline differs from {GOLDEN} (regenerate with FCBENCH_REGEN_GOLDEN=1 "
                    f"if the change is intended):\n{diff}")
