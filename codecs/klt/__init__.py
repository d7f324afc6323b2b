"""The `klt` codec: a channel transform fitted on training features, dead-zone scalar quantization
with rate-distortion optimised rounding and adaptive entropy coding (docs/codecs.md, "klt").

    table.py    the fitted table (mean, basis, priors per group) and tensor <-> token matrices
    fit.py      fitting it on a training feature set (`fcbench klt fit`)
    entropy.py  the adaptive model and the range-coded stream
    codec.py    the codec (registered as "klt")
"""
