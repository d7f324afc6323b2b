#!/bin/sh
# Shared by Dockerfile.codec and Dockerfile.gpu: the non-root user, the folders the KFP v2
# launcher writes to, the hash-locked dependencies (torch from the given index when the lock
# leaves it out), then fcbench from /tmp/fcbench (the copied source), and a check that the
# installed version is the one the image is labelled with.
# Usage: install-fcbench.sh TORCH_INDEX_URL FCBENCH_VERSION LOCK
set -eu
torch_index="$1"
expected_version="$2"
lock="$3"

# uid 10001, group 0: also runs under OpenShift-style random uids (group 0 keeps write access).
useradd --uid 10001 --gid 0 --no-log-init --create-home --home-dir /home/fcbench --shell /usr/sbin/nologin fcbench
# The KFP v2 launcher copies artifacts to /gcs, /minio, /s3 (fixed paths): root-owned by
# default, which breaks non-root steps (kubeflow/pipelines#5673).
mkdir -p /gcs /minio /s3 /oci
chown 10001:0 /gcs /minio /s3 /oci /home/fcbench
chmod 0775 /gcs /minio /s3 /oci /home/fcbench

# The packages fcbench runs on come from a hash lock (images/lock.sh): the same files at every
# rebuild, or a failed build. The GPU lock holds PyPI's CUDA torch itself; the CPU lock leaves
# torch and torchvision out (their dependencies are in it): they come next, alone, from the CPU
# index, pinned by version (requirements/torch.txt). pip check: nothing is missing.
python -m pip install --no-cache-dir --require-hashes --no-deps -r "$lock"
if ! grep -q '^torch==' "$lock"; then
    python -m pip install --no-cache-dir --no-deps --index-url "$torch_index" -r /tmp/fcbench/requirements/torch.txt
fi
python -m pip install --no-cache-dir --no-deps /tmp/fcbench
python -m pip check

installed="$(python -c 'from importlib.metadata import version; print(version("fcbench"))')"
if [ "$installed" != "$expected_version" ]; then
    echo "fcbench $installed was installed but the image is labelled $expected_version:" \
         "build with --build-arg FCBENCH_VERSION=$installed (images/build.sh does)" >&2
    exit 1
fi
# install_kfp_package=False components need kfp in the image; fail the build, not the run.
python -c 'import kfp, fcbench.codecs, fcbench.components, fcbench.pipelines; print("fcbench", "'"$installed"'", "kfp", kfp.__version__)'
rm -rf /tmp/fcbench
