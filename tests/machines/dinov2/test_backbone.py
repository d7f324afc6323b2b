"""The DINOv2 backbone against an independent implementation (transformers' Dinov2Model) and
the reference's position-embedding interpolation rule; hook capture and injection."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from fcbench.machines.dinov2 import Backbone
from fcbench.machines.dinov2.checkpoints import original_to_hf
from fcbench.machines.dinov2.tiny import tiny_backbone_state_dict


def _hf_model(sd: dict, num_heads: int):
    from transformers import Dinov2Config, Dinov2Model

    embed = sd["cls_token"].shape[-1]
    depth = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("blocks."))
    cfg = Dinov2Config(hidden_size=embed, num_hidden_layers=depth, num_attention_heads=num_heads, use_swiglu_ffn=True,
                       patch_size=14, image_size=518, layer_norm_eps=1e-6)
    model = Dinov2Model(cfg).eval()
    missing, unexpected = model.load_state_dict(original_to_hf(sd), strict=False)
    assert not missing and not unexpected, (missing, unexpected)
    return model


def test_block_outputs_match_transformers_at_518(tiny_sd):
    bb = Backbone.from_state_dict(tiny_sd, num_heads=4, ffn="swiglu")
    hf = _hf_model(tiny_sd, 4)
    torch.manual_seed(1)
    images = torch.randn(1, 3, 518, 518)
    with torch.no_grad():
        ours = bb.block_outputs(images, blocks=[0, 1, 2, 3])
        ref = hf(pixel_values=images, output_hidden_states=True).hidden_states
        for i, out in enumerate(ours):
            assert out.shape == (1, 1 + 37 * 37, 64)
            torch.testing.assert_close(out, ref[i + 1], atol=1e-5, rtol=0)
        # final norm = transformers' layernorm on the last hidden state
        torch.testing.assert_close(bb.norm(ours[-1]), hf(pixel_values=images).last_hidden_state, atol=1e-5, rtol=0)
    assert not torch.equal(ours[0], ours[1])


@pytest.mark.parametrize("hw", [(224, 224), (490, 644), (518, 518)])
def test_position_embeddings_follow_the_interpolate_offset_rule(tiny_sd, hw):
    bb = Backbone.from_state_dict(tiny_sd, num_heads=4)
    h, w = hw
    got = bb.interpolate_pos_embed(h, w)
    # direct computation of the reference rule
    pos = tiny_sd["pos_embed"].float()
    grid = pos[:, 1:].reshape(1, 37, 37, -1).permute(0, 3, 1, 2)
    if (h, w) == (518, 518):
        want = pos
    else:
        sf = ((h / 14 + 0.1) / 37, (w / 14 + 0.1) / 37)
        g = F.interpolate(grid, scale_factor=sf, mode="bicubic", align_corners=False, antialias=False)
        want = torch.cat([pos[:, :1], g.permute(0, 2, 3, 1).reshape(1, -1, 64)], dim=1)
    assert got.shape == (1, 1 + (h // 14) * (w // 14), 64)
    torch.testing.assert_close(got, want, atol=0, rtol=0)
    if (h, w) != (518, 518):  # and it is NOT the size= rule of transformers
        size_rule = F.interpolate(grid, size=(h // 14, w // 14), mode="bicubic", align_corners=False)
        assert (got[:, 1:] - size_rule.permute(0, 2, 3, 1).reshape(1, -1, 64)).abs().max() > 1e-4


def test_any_size_and_mlp_ffn_build_from_state_dict():
    sd = tiny_backbone_state_dict(embed_dim=48, depth=2, num_heads=3, seed=3, ffn="mlp")
    bb = Backbone.from_state_dict(sd, num_heads=3, ffn="mlp")
    assert (bb.embed_dim, bb.depth, bb.num_heads) == (48, 2, 3)
    out = bb.block_outputs(torch.randn(1, 3, 28, 42), blocks=[-1])
    assert out[0].shape == (1, 1 + 6, 48)
    with pytest.raises(ValueError, match="swiglu"):
        Backbone.from_state_dict(sd, num_heads=3, ffn="swiglu")


def test_input_not_multiple_of_patch_is_an_error(tiny_sd):
    bb = Backbone.from_state_dict(tiny_sd, num_heads=4)
    with pytest.raises(ValueError, match="multiple of the patch size"):
        bb.block_outputs(torch.randn(1, 3, 30, 28), blocks=[0])
    with pytest.raises(ValueError, match="out of range"):
        bb.block_outputs(torch.randn(1, 3, 28, 28), blocks=[4])


def test_injecting_the_unmodified_feature_reproduces_outputs_exactly(tiny_sd):
    bb = Backbone.from_state_dict(tiny_sd, num_heads=4)
    images = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        plain = bb.norm(bb(images))
        for split in (1, 3):  # mid-network and the last block
            (feature,) = bb.block_outputs(images, blocks=[split])
            with bb.inject(split, feature.clone()):
                same = bb.norm(bb(images))
            assert torch.equal(same, plain)
            with bb.inject(split, feature + 0.5 * torch.randn_like(feature)):
                changed = bb.norm(bb(images))
            assert (changed - plain).abs().max() > 1e-3
        with pytest.raises(ValueError, match="injected feature"):
            with bb.inject(1, feature[:, :10]):
                bb(images)
    assert not bb.blocks[1]._forward_hooks  # hooks removed on exit


def test_vitg_conventions():
    """ViT-g: SwiGLU hidden 4096 for width 1536, default 24 heads, depth blocks 10/20/30/40."""
    from fcbench.machines.dinov2.backbone import swiglu_hidden
    from fcbench.machines.dinov2.machine import depth_blocks

    assert swiglu_hidden(1536) == 4096 and swiglu_hidden(64) == 176
    assert depth_blocks(40) == [9, 19, 29, 39] and depth_blocks(4) == [0, 1, 2, 3] and depth_blocks(12) == [2, 5, 8, 11]
