"""Installed codec plug-ins for tests: the example package of the repository
(examples/fcbench-codec-zlib) built and installed by pip into a temporary folder, and broken
plug-ins written as installed distributions (a .dist-info with an entry point). The folder is made
visible through sys.path and PYTHONPATH (so subprocesses, kfp local-runner tasks and sweep
workers see it too); nothing is installed into the shared environment."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fcbench.codecs import plugins, registry
from tests.paths import REPO

EXAMPLE = REPO / "examples" / "fcbench-codec-zlib"


def install_example(target: Path) -> Path:
    """pip-install the example plug-in package (a wheel built from its source) into `target`."""
    src = target.parent / "zlib-src"
    shutil.copytree(EXAMPLE, src)  # the build writes egg-info beside the sources: not in the repository
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(target), str(src)], check=True, capture_output=True, timeout=300)
    return target


def write_distribution(target: Path, dist: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
    """An installed distribution as pip leaves it: modules plus a .dist-info with its entry points."""
    info = target / f"{dist.replace('-', '_')}-0.0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.0.1\n")
    lines = "".join(f"{name} = {value}\n" for name, value in entry_points.items())
    (info / "entry_points.txt").write_text(f"[{plugins.GROUP}]\n{lines}")
    for name, text in modules.items():
        (target / f"{name}.py").write_text(text)


BROKEN = {
    "broken": ("broken_codec_mod:Codec", "raise RuntimeError('this plug-in is broken on purpose')\n"),
    "notacodec": ("not_a_codec_mod:Thing", "class Thing:\n    pass\n"),
    "x265": ("fake_x265_mod:Codec", "raise AssertionError('never imported: the name is a built-in')\n"),
}


@pytest.fixture(scope="session")
def plugin_dir(tmp_path_factory) -> Path:
    target = install_example(tmp_path_factory.mktemp("plugins") / "site")
    write_distribution(target, "broken-codecs", {n: ep for n, (ep, _) in BROKEN.items()},
                       {ep.split(":")[0]: text for ep, text in BROKEN.values()})
    return target


@pytest.fixture
def installed_plugins(plugin_dir, monkeypatch):
    """The plug-ins visible to this process and its children; the registry restored afterwards."""
    monkeypatch.syspath_prepend(str(plugin_dir))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(plugin_dir), os.environ.get("PYTHONPATH")) if p))
    registry._load_backends()  # every built-in registered before the registry is copied
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(plugins, "_ERRORS", {})
    monkeypatch.setattr(plugins, "_LOADED", {})
    return plugin_dir
