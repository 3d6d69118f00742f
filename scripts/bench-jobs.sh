#!/usr/bin/env bash
# `runner --jobs N` (N worker processes, one thread each) against one process with N threads,
# each from a cold start (no cached dense model), on experiments/quick.yaml and on a small
# ResNet-20 grid; wall times in results/bench-jobs.md. Run it on an idle machine.
#   scripts/bench-jobs.sh [--jobs N] [--repeats R] [--only quick|resnet]
set -euo pipefail
cd "$(dirname "$0")/.."
N=2
REPEATS=1
ONLY=""
while [ $# -gt 0 ]; do
  case "$1" in
    --jobs) N="$2"; shift 2;;
    --repeats) REPEATS="$2"; shift 2;;
    --only) ONLY="$2"; shift 2;;
    *) echo "usage: $0 [--jobs N] [--repeats R] [--only quick|resnet]" >&2; exit 2;;
  esac
done
[ -x build/runner ] || scripts/setup.sh
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
# 8 runs of ResNet-20 on 4000 Fashion-MNIST images: two dense models, one-shot and iterative.
cat > "$W/resnet-jobs.yaml" <<'YAML'
version: 1
name: resnet_jobs
seeds: [1, 2]
threads: 2
data: {dataset: fashion_mnist, val_size: 1000, train_limit: 4000, test_limit: 2000}
model: resnet20
train: {epochs: 2, batch_size: 128, lr: 0.1}
finetune: {epochs: 1, lr: 0.01}
prune:
  criterion: magnitude
  ratio_policy: global
  schedule: [one_shot, iterative]
  sparsity: [0.5, 0.9]
YAML
declare -A CONFIGS=([quick]=experiments/quick.yaml [resnet]="$W/resnet-jobs.yaml")
OUT=results/bench-jobs.md
mkdir -p results
{
  echo "| grid | runs | one process, $N threads | --jobs $N, 1 thread each | ratio | load average before |"
  echo "|---|---:|---:|---:|---:|---|"
} > "$OUT.tmp"
seconds_since() { awk -v a="$1" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }'; }
for name in quick resnet; do
  [ -z "$ONLY" ] || [ "$ONLY" = "$name" ] || continue
  cfg=${CONFIGS[$name]}
  runs=$(build/runner validate "$cfg" | sed -n 's/.*, \([0-9]*\) runs$/\1/p')
  for rep in $(seq 1 "$REPEATS"); do
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    declare -A T=()
    modes="threads jobs"
    [ $((rep % 2)) -eq 0 ] && modes="jobs threads"  # alternate, so a change of load hits both
    for mode in $modes; do
      d="$W/$name-$mode-$rep"
      args=(--threads "$N")
      [ "$mode" = jobs ] && args=(--jobs "$N" --threads "$N")
      t0=$(date +%s%N)
      build/runner "$cfg" --db "$d/r.db" --quiet "${args[@]}" > "$d.log" 2>&1 || { cat "$d.log"; exit 1; }
      T[$mode]=$(seconds_since "$t0")
      echo "$name $mode (repeat $rep): ${T[$mode]} s" >&2
    done
    ratio=$(awk -v a="${T[threads]}" -v b="${T[jobs]}" 'BEGIN { printf "%.2f", a / b }')
    echo "| $name | $runs | ${T[threads]} s | ${T[jobs]} s | $ratio× | $load |" >> "$OUT.tmp"
  done
done
mv "$OUT.tmp" "$OUT"
cat "$OUT"
