"""Session-wide test settings: offline, no telemetry (PLATFORM_NOTES.md)."""
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


def _shared_dir() -> Path:
    """../shared beside the checkout (FCBENCH_SHARED overrides)."""
    return Path(os.environ.get("FCBENCH_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def vtm_fixtures() -> Path:
    """The real VTM 23.13 outputs in shared/fixtures/vtm."""
    path = _shared_dir() / "fixtures" / "vtm"
    if not (path / "fixtures.json").is_file():
        pytest.skip(f"VTM fixtures not found at {path} (set FCBENCH_SHARED)")
    return path
