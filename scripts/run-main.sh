#!/usr/bin/env bash
# First README command: set up, build, run the main experiment (extra arguments go to the runner).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
./build/runner experiments/resnet.yaml "$@"
./build/runner report results/resnet.db
