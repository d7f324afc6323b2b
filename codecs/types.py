"""Type names shared by every layer: one definition each."""
from __future__ import annotations

from pathlib import Path
from typing import Union

PathLike = Union[str, Path]

# A codec's rate point: an int QP for block codecs (VTM, VVenC, x265, bypass), a float lambda for
# learned ones (the hyperprior). The int/float distinction is meaningful (see rate_tag).
RatePoint = Union[int, float]
