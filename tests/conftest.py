"""Session-wide test settings: offline, no telemetry (docs/test-conditions.md §9)."""
import os
from pathlib import Path

import pytest

for _k, _v in {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
}.items():
    os.environ.setdefault(_k, _v)

REPO = Path(__file__).resolve().parents[1]


FIXTURES = REPO / "tests" / "fixtures"


@pytest.fixture(scope="session")
def vtm_fixtures() -> Path:
    """Real VTM 23.13 outputs (recorded runs, described in tests/fixtures/vtm/fixtures.json): features, packed frames,
    bitstreams, encoder/decoder logs, decoded frames and fixtures.json."""
    path = FIXTURES / "vtm"
    assert (path / "fixtures.json").is_file(), f"VTM fixtures missing at {path}"
    return path
