#!/bin/sh
# Build-time check of the user's VTM/VVenC tree copied to /opt/vtm (Dockerfile.codec):
# the VTM encoder, decoder and config must be there and runnable here, the encoder of the version
# the build states (VTM_VERSION); VVenC is optional.
set -eu
missing=0
for f in "$FCBENCH_VTM_ENCODER" "$FCBENCH_VTM_DECODER"; do
    if [ ! -x "$f" ]; then
        echo "VTM binary $f is missing or not executable: the VTM build must provide" \
             "/opt/vtm/bin/EncoderAppStatic and /opt/vtm/bin/DecoderAppStatic" >&2
        missing=1
    elif ldd "$f" 2>/dev/null | grep -q "not found"; then
        echo "VTM binary $f needs libraries this image lacks (build it statically):" >&2
        ldd "$f" | grep "not found" >&2
        missing=1
    fi
done
if [ ! -r "$FCBENCH_VTM_CFG" ]; then
    echo "VTM config $FCBENCH_VTM_CFG is missing: the VTM build must provide /opt/vtm/cfg/encoder_intra_vtm.cfg" >&2
    missing=1
fi
[ "$missing" -eq 0 ] || exit 1
# The version the build states (VTM_VERSION, a build argument) must be the one the encoder's
# banner names: results are comparable only between the same VTM (the reference ran 23.3).
found="$(timeout 60 "$FCBENCH_VTM_ENCODER" --help 2>&1 | sed -n 's/.*VTM Encoder Version \([0-9][0-9.]*\).*/\1/p' | head -n 1 || true)"
if [ -n "${VTM_VERSION:-}" ] && [ "$found" != "$VTM_VERSION" ]; then
    said="${found:-unknown (no 'VTM Encoder Version' in its --help)}"
    echo "VTM_VERSION is $VTM_VERSION but $FCBENCH_VTM_ENCODER says it is version $said:" \
         "state the version you copied (--build-arg VTM_VERSION=...)" >&2
    exit 1
fi
if [ -x "$FCBENCH_VVENC_ENCODER" ]; then
    echo "VVenC found at $FCBENCH_VVENC_ENCODER"
else
    echo "note: no VVenC at $FCBENCH_VVENC_ENCODER (optional): the vvenc codec will report it missing"
fi
echo "VTM ${found:-of unknown version} found: $FCBENCH_VTM_ENCODER, $FCBENCH_VTM_DECODER, $FCBENCH_VTM_CFG"
