"""Packaging rules of docs/architecture.md (the layering: test_layering.py)."""
import subprocess
import sys
import tomllib

import pytest

from tests.paths import REPO

FOLDERS = {"codecs": "fcbench.codecs", "machines": "fcbench.machines", "components": "fcbench.components", "pipelines": "fcbench.pipelines"}


def test_every_subpackage_is_installed():
    cfg = tomllib.loads((REPO / "pyproject.toml").read_text())
    listed = set(cfg["tool"]["setuptools"]["packages"])
    for folder, package in FOLDERS.items():
        for init in (REPO / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / folder)
            name = ".".join([package, *rel.parts]) if rel.parts else package
            assert name in listed, f"{name} ({init.parent}) is missing from [tool.setuptools] packages"


@pytest.mark.slow  # a fresh interpreter
def test_console_script_and_help():
    out = subprocess.run([sys.executable, "-m", "fcbench.pipelines.cli", "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for command in ("conditions", "doctor", "pack", "unpack"):
        assert command in out.stdout


@pytest.mark.slow  # probes every codec and package
def test_doctor_reports_codecs(capsys):
    from fcbench.pipelines.cli import main

    assert main(["doctor", "--json"]) == 0
    import json

    report = json.loads(capsys.readouterr().out)
    assert report["codecs"]["x265_encoder"] is True
    assert report["codecs"]["av1_encoder"] is True and report["codecs"]["av1_decoder"] is True
    assert report["codecs"]["vvc_decoder"] is True
    assert report["packages"]["torch"].startswith("2.14")
    assert all(v != "missing" for v in report["packages"].values()), report["packages"]


def test_doctor_prints_no_library_warnings():
    """#22 item 7: importing every package for its version printed torch's FutureWarning."""
    out = subprocess.run([sys.executable, "-m", "fcbench.pipelines.cli", "doctor"], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert "Warning" not in out.stderr and "Warning" not in out.stdout, out.stderr
