#!/usr/bin/env bash
# Sparse kernels vs dense LibTorch, the machine's peak and a ResNet-20 training-step profile
# (issue 18): build/bench/prunelab_kernels at 1 and 2 threads, pinned to cores (an unpinned
# 1-thread process here flips between two speeds as the scheduler moves it, 1.6 vs 5.2 ms for
# ResNet-20 at batch 1), Markdown to results/kernels.md. Run it on an otherwise idle machine;
# about 5 minutes.
#   scripts/bench-kernels.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."
quick=()
[ "${1:-}" = "--quick" ] && quick=(--quick)
scripts/setup.sh
out=results/kernels.md
{
  echo "# prunelab_kernels, $(date -u +%Y-%m-%d) on $(nproc) cores"
  taskset -c 0 ./build/bench/prunelab_kernels --threads 1 "${quick[@]}"
  if [ "$(nproc)" -ge 2 ]; then taskset -c 0,1 ./build/bench/prunelab_kernels --threads 2 "${quick[@]}"; fi
} | tee "$out"
echo "written: $out" >&2
