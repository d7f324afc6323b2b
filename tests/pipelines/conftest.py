"""Fixtures of the pipeline tests: tiny DINOv2 cls assets, their features and a tiny trained
hyperprior, each built once per session with the real library code."""
import json
from pathlib import Path

import pytest


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
    from fcbench.components.extract import extract_features

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
