#!/usr/bin/env bash
# Second README command: set up, build, run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
# The Slurm test needs Debian's slurm-wlm and munge, installed here (PRUNELAB_TEST_SLURM=0: not
# installed, and the test skips where they are missing); as root a missing Slurm fails it.
export PRUNELAB_TEST_SLURM="${PRUNELAB_TEST_SLURM:-1}"
if [ "$PRUNELAB_TEST_SLURM" = 1 ] && [ "$(id -u)" -eq 0 ]; then export PRUNELAB_REQUIRE_SLURM="${PRUNELAB_REQUIRE_SLURM:-1}"; fi
scripts/setup.sh
cd build
ctest --output-on-failure -j "${CTEST_JOBS:-2}" --timeout 600
