#!/usr/bin/env bash
# Set up, build and run every test; ends with "N passed, N failed[, N skipped]"
# counting the individual test cases of every TAP test program.
# Usage: tests/run.sh [meson test arguments...]   (as root for the mount tests)
set -uo pipefail
cd "$(dirname "$0")/.."
builddir=${BUILDDIR:-build}

tests/setup.sh "$builddir" || { echo "0 passed, 1 failed"; exit 1; }
meson test -C "$builddir" --print-errorlogs "$@"
rc=$?
python3 tests/tap-summary.py "$builddir/meson-logs/testlog.json" || rc=1
exit $rc
