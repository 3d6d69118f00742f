#!/usr/bin/env bash
# Second README command: set up, build, run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cd build
ctest --output-on-failure -j "${CTEST_JOBS:-2}" --timeout 600
