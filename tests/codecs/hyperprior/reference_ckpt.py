"""Checkpoints exactly as the reference's CompressAI training script writes them: a torch dict
{epoch, state_dict, loss, optimizer, aux_optimizer, lr_scheduler}; state_dict of a 1-channel
ScaleHyperprior under CompressAI's key names; file and folder named as the reference names them."""
from __future__ import annotations

from pathlib import Path

import torch
from compressai.models.google import ScaleHyperprior
from compressai.models.utils import conv, deconv

FOLDER = "trunl-5_trunh5_uniform0_bitdepth1"
NAME = "hyperprior_lambda0.001_epoch800_lr1e-4_bs128_patch256-256_checkpoint.pth.tar"


def reference_net(N: int = 128, M: int = 192, seed: int = 0) -> torch.nn.Module:
    """The reference's model: CompressAI's ScaleHyperprior with 1-channel input and output."""
    torch.manual_seed(seed)
    net = ScaleHyperprior(N, M)
    net.g_a[0] = conv(1, N)
    net.g_s[-1] = deconv(N, 1)
    return net


def write_reference_checkpoint(path: Path, net: torch.nn.Module, epoch: int = 799) -> Path:
    """One training step's optimizer state, then torch.save of the reference's dict."""
    params = [p for n, p in net.named_parameters() if not n.endswith(".quantiles")]
    aux = [p for n, p in net.named_parameters() if n.endswith(".quantiles")]
    optimizer, aux_optimizer = torch.optim.Adam(params, lr=1e-4), torch.optim.Adam(aux, lr=1e-3)
    aux_optimizer.zero_grad()
    net.aux_loss().backward()
    aux_optimizer.step()
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, "min")
    scheduler.step(1.5)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"epoch": epoch, "state_dict": net.state_dict(), "loss": torch.tensor(1.2345),
                "optimizer": optimizer.state_dict(), "aux_optimizer": aux_optimizer.state_dict(),
                "lr_scheduler": scheduler.state_dict()}, path)
    return path
