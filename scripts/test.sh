#!/usr/bin/env bash
# The README's test command: install what is missing, build, run every test
# (meson test setup 'full': the default suites plus 'slow', which holds
# OpenSSH's own agent regression suite).
# Usage: scripts/test.sh [BUILDDIR] [meson test options...]
# Prints "N passed, N failed" last, counted from meson's test log.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh || exit 1
dir=${1:-build}
shift || true
bash scripts/build.sh "$dir" || exit 1
rm -f "$dir/meson-logs/testlog-full.json"
meson test -C "$dir" --setup full --print-errorlogs --num-processes 2 "$@"
status=$?
python3 scripts/count-tests.py "$dir/meson-logs/testlog-full.json"
exit $status
