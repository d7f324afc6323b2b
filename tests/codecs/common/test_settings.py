"""The settings module is the one source of every environment variable fcbench reads."""
import ast
import os
from pathlib import Path

import pytest

from fcbench.codecs.common import settings
from fcbench.codecs.common.settings import Setting, SettingError
from tests.paths import REPO

PACKAGES = ("codecs", "machines", "components", "pipelines")


def test_docs_hold_exactly_the_settings_table():
    doc = (REPO / "docs" / "settings.md").read_text()
    assert settings.markdown_table() in doc, "docs/settings.md is out of date: paste settings.markdown_table()"


def _environment_reads(path: Path) -> list[str]:
    """`os.environ` / `os.getenv` / `environ` uses in a source file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "putenv", "unsetenv"):
            found.append(f"{path.relative_to(REPO)}:{node.lineno}: os.{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module == "os" and any(a.name in ("environ", "getenv") for a in node.names):
            found.append(f"{path.relative_to(REPO)}:{node.lineno}: from os import ...")
    return found


# Starts without site-packages (it cannot import fcbench) and hands the whole environment on.
STANDALONE = {REPO / "pipelines" / "task_client.py"}


def test_nothing_but_the_settings_module_reads_the_environment():
    own = REPO / "codecs" / "common" / "settings.py"
    offenders = [hit for package in PACKAGES for path in sorted((REPO / package).rglob("*.py"))
                 if path != own and path not in STANDALONE
                 for hit in _environment_reads(path)]
    assert offenders == [], "read the environment through fcbench.codecs.common.settings:\n" + "\n".join(offenders)


def test_every_fcbench_variable_named_in_the_code_is_defined():
    """A variable mentioned anywhere in the packages (messages, docstrings) is one of the table."""
    import re

    named = {m for package in PACKAGES for path in (REPO / package).rglob("*.py")
             for m in re.findall(r"\bFCBENCH_[A-Z0-9_]*[A-Z0-9]\b", path.read_text())}
    assert named - set(settings.SETTINGS) == set()


def test_typed_values_defaults_and_fallbacks():
    env = {"FCBENCH_SWEEP_JOBS": "3", "FCBENCH_S3_SECURE": "yes", "AWS_ACCESS_KEY_ID": "aws",
           "FCBENCH_CACHE_DIR": "~/c"}
    assert settings.SWEEP_JOBS.get(env) == 3
    assert settings.S3_SECURE.get(env) is True
    assert settings.S3_ACCESS_KEY.get(env) == "aws"  # the AWS fallback
    assert settings.S3_ACCESS_KEY.get({**env, "FCBENCH_S3_ACCESS_KEY": "own"}) == "own"
    assert settings.CACHE_DIR.get(env) == Path.home() / "c"
    assert settings.STAGE_DIR.get({}) == Path.home() / ".cache" / "fcbench" / "stage"
    assert settings.IMAGE_REGISTRY.get({"FCBENCH_IMAGE_REGISTRY": "  "}) == "ghcr.io/fcbench"  # blank = unset


@pytest.mark.parametrize("setting, value, message", [
    (settings.SWEEP_JOBS, "0", r"FCBENCH_SWEEP_JOBS='0' must be a positive integer"),
    (settings.SWEEP_JOBS, "two", r"FCBENCH_SWEEP_JOBS='two' must be a positive integer"),
    (settings.S3_SECURE, "maybe", r"FCBENCH_S3_SECURE='maybe' is not a boolean"),
])
def test_bad_values_name_the_variable(setting: Setting, value, message):
    with pytest.raises(SettingError, match=message):
        setting.get({setting.name: value})


def test_doctor_report_hides_secrets():
    shown = settings.report({"FCBENCH_S3_SECRET_KEY": "hunter2", "FCBENCH_S3_ENDPOINT": "h:9000"})
    assert shown["FCBENCH_S3_SECRET_KEY"] == "set (hidden)"
    assert shown["FCBENCH_S3_ENDPOINT"] == "h:9000"
    assert shown["FCBENCH_CACHE_DIR"].startswith("not set (default:")
    assert set(shown) == {n for n, s in settings.SETTINGS.items()
                          if not n.startswith("_") and s.group not in settings.INTERNAL_GROUPS}
    assert "_KFP_RUNTIME" not in shown and "FCBENCH_REGEN_GOLDEN" not in shown  # #22 item 7: not a user's


def test_environment_is_put_back(monkeypatch):
    monkeypatch.setenv("FCBENCH_SWEEP_JOBS", "4")
    monkeypatch.delenv("FCBENCH_ERROR_LOG", raising=False)
    with settings.environment({settings.SWEEP_JOBS: "1", settings.ERROR_LOG: "/tmp/e.jsonl"}):
        assert settings.SWEEP_JOBS.get() == 1 and os.environ["FCBENCH_ERROR_LOG"] == "/tmp/e.jsonl"
    assert os.environ["FCBENCH_SWEEP_JOBS"] == "4" and "FCBENCH_ERROR_LOG" not in os.environ


def test_the_settings_module_imports_nothing_heavy():
    """Reading a setting must not load the codec stack: `import fcbench.codecs.common.settings` in a fresh
    interpreter loads none of numpy, pydantic, zstandard, yaml, torch (fcbench.codecs is lazy)."""
    import subprocess
    import sys

    code = ("import sys, fcbench.codecs.common.settings as s; s.OMP_THREADS.get(); "
            "print(sorted(m for m in ('numpy', 'pydantic', 'zstandard', 'yaml', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
