"""Tiny DINOv2 assets shared by this directory's tests (built once per session)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fcbench.machines.dinov2.tiny import make_assets, tiny_backbone_state_dict


@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread per test (the CI box has 2 cores shared by many jobs); restored after,
    so tests elsewhere keep their setting."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_sd() -> dict[str, torch.Tensor]:
    """Original-format state dict: embed 64, depth 4, heads 4, SwiGLU, patch 14, img 518."""
    return tiny_backbone_state_dict(embed_dim=64, depth=4, num_heads=4, seed=0)


@pytest.fixture(scope="session")
def cls_assets(tmp_path_factory) -> dict:
    return make_assets(tmp_path_factory.mktemp("tiny_cls"), "cls", n_images=6)


@pytest.fixture(scope="session")
def seg_assets(tmp_path_factory) -> dict:
    return make_assets(tmp_path_factory.mktemp("tiny_seg"), "seg", n_images=2)


@pytest.fixture(scope="session")
def dpt_assets(tmp_path_factory) -> dict:
    return make_assets(tmp_path_factory.mktemp("tiny_dpt"), "dpt", n_images=2)


@pytest.fixture(scope="session")
def cls_features(cls_assets, tmp_path_factory) -> Path:
    from fcbench.machines import get_machine

    out = tmp_path_factory.mktemp("cls_feat") / "fs"
    m = get_machine("dinov2", "cls", weights=cls_assets["weights"], progress=False, **cls_assets["options"])
    m.extract(cls_assets["data"], out, sample_list=cls_assets["sample_list"])
    return out
