"""Loss curves of a hyperprior training run -> PNG (written atomically)."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence, Union

from fcbench.codecs.common import atomic


def plot_curves(curves: Sequence[dict], path: Union[str, Path], title: str = "") -> Path:
    """Three panels over epochs: loss, bpp and MSE, train and validation each."""
    if not curves:
        raise ValueError("no epochs to plot")
    import matplotlib

    matplotlib.use("Agg")  # headless: never needs a display
    import matplotlib.pyplot as plt

    epochs = [c["epoch"] for c in curves]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, key, label in zip(axes, ("loss", "bpp", "mse"), ("loss (lambda*255^2*MSE + bpp)", "bpp", "MSE")):
        ax.plot(epochs, [c[f"train_{key}"] for c in curves], label="train")
        ax.plot(epochs, [c[f"val_{key}"] for c in curves], label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        if key != "bpp":
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    atomic.write_bytes(path, buf.getvalue())
    return Path(path)
