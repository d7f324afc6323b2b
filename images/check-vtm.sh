#!/bin/sh
# Build-time check of the user's VTM/VVenC tree copied to /opt/vtm (Dockerfile.codec):
# the VTM encoder, decoder and config must be there and runnable here; VVenC is optional.
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
if [ -x "$FCBENCH_VVENC_ENCODER" ]; then
    echo "VVenC found at $FCBENCH_VVENC_ENCODER"
else
    echo "note: no VVenC at $FCBENCH_VVENC_ENCODER (optional): the vvenc codec will report it missing"
fi
echo "VTM found: $FCBENCH_VTM_ENCODER, $FCBENCH_VTM_DECODER, $FCBENCH_VTM_CFG"
