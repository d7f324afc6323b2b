"""Session-wide test settings (offline, no telemetry: docs/test-conditions.md §9) and the fixtures
shared across folders: the real VTM outputs, and the tiny DINOv2 cls assets, features, hyperprior
and loopback S3 server that the stage tests (tests/components/stages) and the pipeline tests
(tests/pipelines) share."""
import json
import os
from pathlib import Path

import pytest

from tests.paths import FIXTURES

# Fixtures that start a real server on loopback: a test that uses one (directly or through
# another fixture) is an `integration` test, excluded by `make test-fast`. Tests that run the kfp
# local runner carry the marker explicitly.
SERVER_FIXTURES = frozenset({"s3_server", "s3_bucket", "mlflow_server", "moto_s3"})


def pytest_collection_modifyitems(config, items):
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)

for _k, _v in {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
}.items():
    os.environ.setdefault(_k, _v)


@pytest.fixture(scope="session")
def vtm_fixtures() -> Path:
    """Real VTM 23.13 outputs (recorded runs, described in tests/fixtures/vtm/fixtures.json):
    features, packed frames, bitstreams, encoder/decoder logs, decoded frames and fixtures.json."""
    path = FIXTURES / "vtm"
    assert (path / "fixtures.json").is_file(), f"VTM fixtures missing at {path}"
    return path


@pytest.fixture(scope="session")
def tiny_cls(tmp_path_factory) -> dict:
    """Tiny random-weight DINOv2 cls machine + 4 generated images (fcbench.machines.dinov2.tiny)."""
    tiny = pytest.importorskip("fcbench.machines.dinov2.tiny", reason="the DINOv2 machines are not installed")
    assets = tiny.make_assets(tmp_path_factory.mktemp("tiny_cls"), task="cls", n_images=4, seed=0)
    return {"weights": str(assets["weights"]), "data": str(assets["data"]),
            "sample_list": str(assets["sample_list"]), "options": json.dumps(assets["options"])}


@pytest.fixture(scope="session")
def tiny_features(tiny_cls, tmp_path_factory) -> Path:
    """The tiny machine's feature set, extracted with the extract component's own function."""
    from fcbench.components.stages.extract import extract_features

    out = tmp_path_factory.mktemp("features") / "cls"
    extract_features("dinov2", "cls", tiny_cls["weights"], tiny_cls["data"], tiny_cls["sample_list"],
                     tiny_cls["options"], str(out))
    return out


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_features, tmp_path_factory) -> Path:
    """A tiny hyperprior (lambda 0.01) trained for a few steps on the tiny features."""
    from fcbench.codecs.hyperprior import train

    result = train(tiny_features, tmp_path_factory.mktemp("hyperprior"), 0.01, crop=(64, 64), steps=4,
                   batch_size=4, seed=0, task="cls", N=8, M=8, device="cpu", progress=False)
    return Path(result.checkpoint)


@pytest.fixture(scope="module")
def s3_bucket(monkeypatch_module) -> str:
    """A REAL S3-compatible server (moto) on loopback with a fresh bucket, reached the way the
    components reach it: FCBENCH_S3_* environment variables (inherited by the kfp local runner's
    task subprocesses). Yields the bucket name; the server stops after the module."""
    from tests.faults import moto_s3

    with moto_s3() as (env, bucket):
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "FCBENCH_S3_SECURE"):
            monkeypatch_module.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch_module.setenv(name, value)
        yield bucket


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp
