#!/usr/bin/env bash
# Non-Python tools the tests use. Each is optional for library use; tests that need one
# skip with a reason when it is absent.
set -euo pipefail
exit 0
