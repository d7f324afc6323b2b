"""Checkpoint loading: official key format with strict matching, HF directories, clear errors."""
from __future__ import annotations

import pytest
import torch

from fcbench.machines import get_machine
from fcbench.machines.dinov2 import Backbone
from fcbench.machines.dinov2.checkpoints import hf_to_original, load_backbone, load_head, original_to_hf
from fcbench.machines.dinov2.heads import DepthLinearHead, LinearClsHead, SegBNHead
from fcbench.machines.dinov2.tiny import tiny_head_state_dict, write_hf_dir
from fcbench.machines.weights import CheckpointError, register_stager, resolve


def test_official_key_names_load_strictly(tiny_sd):
    assert {"cls_token", "pos_embed", "mask_token", "patch_embed.proj.weight", "blocks.0.attn.qkv.weight",
            "blocks.0.mlp.w12.weight", "blocks.0.mlp.w3.weight", "blocks.0.ls1.gamma", "blocks.3.ls2.gamma",
            "norm.weight"} <= set(tiny_sd)
    assert tiny_sd["mask_token"].shape == (1, 64)
    bb = Backbone.from_state_dict(tiny_sd, num_heads=4)
    for k, v in bb.state_dict().items():
        assert torch.equal(v, tiny_sd[k]), k


def test_missing_unexpected_and_misshapen_keys_are_named(tiny_sd):
    bb = Backbone.from_state_dict(tiny_sd, num_heads=4)
    broken = dict(tiny_sd)
    del broken["blocks.2.attn.proj.weight"]
    with pytest.raises(CheckpointError, match=r"missing keys \['blocks.2.attn.proj.weight'\]"):
        bb.load_original(broken)
    with pytest.raises(CheckpointError, match="unexpected keys.*blocks.0.attn.q_bias"):
        bb.load_original({**tiny_sd, "blocks.0.attn.q_bias": torch.zeros(64)})
    bad = {**tiny_sd, "blocks.1.ls1.gamma": torch.zeros(65)}
    with pytest.raises(CheckpointError, match=r"wrong shapes.*blocks.1.ls1.gamma: checkpoint \(65,\) != model \(64,\)"):
        bb.load_original(bad)
    with pytest.raises(CheckpointError, match="lacks 'pos_embed'"):
        Backbone.from_state_dict({k: v for k, v in tiny_sd.items() if k != "pos_embed"})


def test_chunked_training_checkpoint_keys_are_flattened(tiny_sd):
    chunked = {k.replace("blocks.", "blocks.0.", 1) if k.startswith("blocks.") else k: v for k, v in tiny_sd.items()}
    bb = Backbone.from_state_dict(chunked, num_heads=4)
    assert bb.depth == 4


def test_hf_mapping_round_trips(tiny_sd):
    back = hf_to_original(original_to_hf(tiny_sd))
    assert set(back) == set(tiny_sd)
    for k in tiny_sd:
        assert torch.equal(back[k], tiny_sd[k]), k


def test_hf_directory_loads_the_same_backbone(tiny_sd, tmp_path):
    hf_dir = write_hf_dir(tiny_sd, tmp_path / "hf", num_heads=4)
    src = load_backbone(hf_dir)
    assert src.num_heads == 4 and src.path.name == "model.safetensors"
    bb = Backbone.from_state_dict(src.state_dict, num_heads=src.num_heads)
    ref = Backbone.from_state_dict(tiny_sd, num_heads=4)
    x = torch.randn(1, 3, 56, 56)
    with torch.no_grad():
        assert torch.equal(bb(x), ref(x))


def test_heads_load_official_formats_strictly():
    cls_sd = tiny_head_state_dict("cls")
    assert set(cls_sd) == {"weight", "bias"} and cls_sd["weight"].shape == (1000, 128)
    LinearClsHead.from_state_dict(cls_sd, 64)
    with pytest.raises(CheckpointError, match="2 x embed_dim 32"):
        LinearClsHead.from_state_dict(cls_sd, 32)
    seg = {k.removeprefix("decode_head."): v for k, v in tiny_head_state_dict("seg")["state_dict"].items()}
    SegBNHead.from_state_dict(seg, 64)
    with pytest.raises(CheckpointError, match="missing keys.*bn.running_var"):
        SegBNHead.from_state_dict({k: v for k, v in seg.items() if k != "bn.running_var"}, 64)
    dpt = {k.removeprefix("decode_head."): v for k, v in tiny_head_state_dict("dpt")["state_dict"].items()}
    head = DepthLinearHead.from_state_dict(dpt, 64, 4)
    assert head.bn is None and head.conv_depth.weight.shape == (256, 512, 1, 1)
    with pytest.raises(CheckpointError, match="2 x 4 layers x embed_dim 32"):
        DepthLinearHead.from_state_dict(dpt, 32, 4)


def test_head_file_with_foreign_keys_is_rejected(tmp_path):
    sd = tiny_head_state_dict("seg")
    sd["state_dict"]["backbone.norm.weight"] = torch.ones(64)
    torch.save(sd, tmp_path / "dinov2_vitg14_voc2012_linear_head.pth")
    with pytest.raises(CheckpointError, match="non-head keys.*backbone.norm.weight"):
        load_head(tmp_path, "seg")


def test_missing_corrupt_and_unstaged_weights(tmp_path, cls_assets, monkeypatch):
    with pytest.raises(FileNotFoundError, match="dinov2_vitg14_pretrain.pth"):
        load_backbone(tmp_path)
    (tmp_path / "dinov2_vitg14_pretrain.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_backbone(tmp_path)
    with pytest.raises(FileNotFoundError, match="no stager"):
        get_machine("dinov2", "cls", weights="s3://bucket/dinov2/")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        get_machine("dinov2", "cls", weights=tmp_path / "nowhere")
    # a registered stager (what fcbench.components does) maps the URI to a local folder
    from fcbench.machines import weights

    monkeypatch.setattr(weights, "_STAGERS", {})
    register_stager("fakes3", lambda uri: cls_assets["weights"])
    assert resolve("fakes3://bucket/w") == cls_assets["weights"]
    m = get_machine("dinov2", "cls", weights="fakes3://bucket/w", num_heads=4)
    assert m.backbone.depth == 4 and m.head.linear.out_features == 1000
