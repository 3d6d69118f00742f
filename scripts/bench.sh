#!/usr/bin/env bash
# The speed benchmarks (issue 7): PyTorch eager baseline, the quick grid cold and warm, then
# prunelab_bench, which prints one table (ours, baseline, ratio) and writes it to
# results/bench.md. Run it on an otherwise idle machine; it takes a few minutes.
#   scripts/bench.sh [--threads N] [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."
threads=2
quick=()
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --quick) quick=(--quick); shift ;;
    *) echo "usage: scripts/bench.sh [--threads N] [--quick]" >&2; exit 2 ;;
  esac
done
scripts/setup.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "PyTorch eager baseline ($threads threads)..." >&2
/usr/bin/python3 bench/eager_baseline.py --threads "$threads" "${quick[@]}" > "$tmp/eager.json"
grid=()
if [ ${#quick[@]} -eq 0 ]; then
  echo "experiments/quick.yaml cold (nothing cached) and warm..." >&2
  t0=$(date +%s.%N)
  ./build/runner experiments/quick.yaml --db "$tmp/quick.db" --cache-dir "$tmp/cache" --quiet
  t1=$(date +%s.%N)
  ./build/runner experiments/quick.yaml --db "$tmp/quick.db" --cache-dir "$tmp/cache" --quiet
  t2=$(date +%s.%N)
  grid=(--grid-cold "$(awk "BEGIN{print $t1 - $t0}")" --grid-warm "$(awk "BEGIN{print $t2 - $t1}")")
fi
/usr/bin/python3 tests/torchscript/make_models.py "$tmp/ts" > /dev/null
./build/bench/prunelab_bench --threads "$threads" --eager "$tmp/eager.json" "${grid[@]}" "${quick[@]}" \
  --torchscript-resnet20 "$tmp/ts/resnet20.pt" --out results/bench.md
