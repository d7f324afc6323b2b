"""Fixtures of the traditional-codec tests: the recorded VTM fixtures' description."""
from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def fixture_meta(vtm_fixtures: Path) -> dict:
    return json.loads((vtm_fixtures / "fixtures.json").read_text())
