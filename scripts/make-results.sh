#!/usr/bin/env bash
# Regenerates docs/results.md and its charts (docs/img/) from the published databases in
# results/published/ (committed: anyone can recheck a claim with `runner query`), falling back to
# results/ for an experiment not published yet, using only `runner report`, `runner plot` and
# `runner query`. After running an experiment, publish its database, then regenerate:
#   build/runner experiments/quick.yaml && scripts/publish-results.sh quick && scripts/make-results.sh
# MAKE_RESULTS_OUT=DIR writes DIR/results.md and DIR/img/ instead of docs/.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNNER=build/runner
OUT_DIR="${MAKE_RESULTS_OUT:-docs}"
OUT="$OUT_DIR/results.md"
IMG="$OUT_DIR/img"
mkdir -p "$IMG"

db_path() {  # db_path NAME: the published database of experiments/NAME.yaml, else the local one
  if [ -f "results/published/$1.db" ]; then echo "results/published/$1.db"; else echo "results/$1.db"; fi
}

first_id() {  # the first value of a one-column `runner query` table, if it is a number
  sed -n 3p | tr -d ' ' | grep -E '^[0-9]+$' || true
}

open_section() {  # open_section NAME: sets db to experiments/NAME.yaml's database and prints the
  # section heading; without that database, says so on stderr and fails (the caller returns)
  db="$(db_path "$1")"
  [ -f "$db" ] || { echo "skipping $1: $db not found" >&2; return 1; }
  echo "## \`experiments/$1.yaml\`"
  echo
}

section() {  # section NAME: the tables and charts of results/NAME.db
  local name="$1" db
  open_section "$name" || return 0
  "$RUNNER" query "$db" "SELECT model || ' on ' || dataset AS setting, COUNT(*) AS runs,
      SUM(status = 'done') AS done, SUM(status = 'failed') AS failed,
      ROUND((julianday(MAX(finished_at)) - julianday(MIN(started_at))) * 1440, 1) AS wall_min_first_start_to_last_finish,
      ROUND(SUM(wall_s) / 60, 1) AS summed_run_min, MAX(threads) AS threads, MAX(torch_version) AS libtorch
      FROM runs GROUP BY 1" | sed 's/^/    /'
  echo
  echo "### Test top-1 (%)"
  echo
  "$RUNNER" report "$db"
  echo
  echo "### Top-1 drop from the dense model (points)"
  echo
  "$RUNNER" report "$db" --metric drop --rows ratio_policy,schedule
  echo
  echo "### Iterative minus one-shot, same seed, same total fine-tuning budget (points of test top-1)"
  echo
  "$RUNNER" query "$db" "SELECT o.ratio_policy, o.run_target_sparsity AS sparsity,
      ROUND(100 * AVG(i.top1 - o.top1), 2) AS mean_diff,
      ROUND(100 * MIN(i.top1 - o.top1), 2) AS min_diff, ROUND(100 * MAX(i.top1 - o.top1), 2) AS max_diff,
      COUNT(*) AS seeds
      FROM results o JOIN results i ON i.model = o.model AND i.ratio_policy = o.ratio_policy
       AND i.granularity = o.granularity AND i.criterion = o.criterion
       AND i.run_target_sparsity = o.run_target_sparsity AND i.seed = o.seed
      WHERE o.is_final AND i.is_final AND o.schedule = 'one_shot' AND i.schedule = 'iterative'
      GROUP BY 1, 2 ORDER BY 1, 2" | sed 's/^/    /'
  echo
  for policy in $("$RUNNER" query "$db" "SELECT DISTINCT ratio_policy FROM runs ORDER BY 1" | tail -n +3 | head -n -1); do
    "$RUNNER" plot "$db" --kind accuracy --rows schedule --where "ratio_policy = '$policy'" \
      --title "$name: test top-1 vs sparsity, $policy magnitude pruning (mean ± std over seeds)" \
      --out "$IMG/$name-accuracy-$policy.png" > /dev/null
    echo "![$name, $policy: accuracy vs sparsity](img/$name-accuracy-$policy.png)"
    echo
  done
  "$RUNNER" plot "$db" --kind speedup --out "$IMG/$name-speedup.png" > /dev/null
  echo "![$name: accuracy vs theoretical speed-up](img/$name-speedup.png)"
  echo
  local run
  run=$("$RUNNER" query "$db" "SELECT id FROM runs WHERE status = 'done' AND ratio_policy = 'global'
         AND schedule = 'one_shot' ORDER BY target_sparsity DESC, seed LIMIT 1" | first_id)
  if [ -n "$run" ]; then
    "$RUNNER" plot "$db" --kind layers --run "$run" --out "$IMG/$name-layers.png" > /dev/null
    echo "Per-layer sparsity chosen by the global threshold (run $run):"
    echo
    echo "![$name: per-layer sparsity](img/$name-layers.png)"
    echo
  fi
}

criteria_section() {  # the criteria comparison: one row per criterion and schedule
  local db
  open_section criteria || return 0
  "$RUNNER" query "$db" "SELECT granularity, COUNT(*) AS runs, SUM(status = 'done') AS done, SUM(status = 'failed') AS failed,
      ROUND(SUM(wall_s) / 60, 1) AS summed_run_min FROM runs GROUP BY 1" | sed 's/^/    /'
  echo
  for g in $("$RUNNER" query "$db" "SELECT DISTINCT granularity FROM runs ORDER BY 1" | tail -n +3 | head -n -1); do
    echo "### $g granularity, uniform ratios: test top-1 (%)"
    echo
    "$RUNNER" report "$db" --rows schedule,criterion --where "granularity = '$g'"
    echo
    for sched in "one_shot(epochs=0)" "one_shot"; do
      local tag="prune-only"
      [ "$sched" = "one_shot" ] && tag="finetuned"
      "$RUNNER" plot "$db" --kind accuracy --rows criterion --where "granularity = '$g' AND schedule = '$sched'" \
        --title "criteria, $g, $tag: test top-1 vs sparsity (mean ± std over seeds)" \
        --out "$IMG/criteria-$g-$tag.png" > /dev/null
      echo "![criteria, $g, $tag](img/criteria-$g-$tag.png)"
      echo
    done
  done
  criteria_winners
}

criteria_winners() {  # which criterion keeps the most accuracy where (means over seeds)
  local db
  db="$(db_path criteria)"
  echo "### Best criterion per granularity, schedule and sparsity (mean test top-1 over seeds)"
  echo
  "$RUNNER" query "$db" "WITH m AS (SELECT granularity, schedule, run_target_sparsity AS sparsity, criterion,
        AVG(top1) AS top1, COUNT(*) AS n FROM results WHERE is_final GROUP BY 1, 2, 3, 4),
      ranked AS (SELECT *, ROW_NUMBER() OVER (PARTITION BY granularity, schedule, sparsity ORDER BY top1 DESC) AS rk,
        MAX(CASE WHEN criterion = 'magnitude' THEN top1 END) OVER (PARTITION BY granularity, schedule, sparsity) AS mag,
        MIN(top1) OVER (PARTITION BY granularity, schedule, sparsity) AS worst
        FROM m)
      SELECT granularity, schedule, sparsity, criterion AS best, ROUND(100 * top1, 2) AS best_top1,
        ROUND(100 * (top1 - mag), 2) AS vs_magnitude,
        (SELECT criterion FROM m m2 WHERE m2.granularity = ranked.granularity AND m2.schedule = ranked.schedule
           AND m2.sparsity = ranked.sparsity ORDER BY m2.top1 LIMIT 1) AS worst_criterion,
        ROUND(100 * worst, 2) AS worst_top1, n AS seeds
      FROM ranked WHERE rk = 1 ORDER BY granularity, schedule, sparsity" | sed 's/^/    /'
  echo
}

ratio_section() {  # how much to prune per layer: uniform vs non-uniform policies
  local db
  open_section ratio || return 0
  "$RUNNER" query "$db" "SELECT granularity, COUNT(*) AS runs, SUM(status = 'done') AS done, SUM(status = 'failed') AS failed,
      ROUND(SUM(wall_s) / 60, 1) AS summed_run_min, MAX(threads) AS threads FROM runs GROUP BY 1" | sed 's/^/    /'
  echo
  echo "Targets: 80 % of the weights (element), 50 % of the inner channels (channel); magnitude scores."
  echo
  echo "### Test top-1 (%)"
  echo
  "$RUNNER" report "$db" --rows granularity,schedule,ratio_policy
  echo
  echo "### Each policy minus uniform, same seed, granularity and schedule (points of test top-1)"
  echo
  "$RUNNER" query "$db" "SELECT p.granularity, p.schedule, p.ratio_policy,
      ROUND(100 * AVG(p.top1 - u.top1), 2) AS mean_diff, ROUND(100 * MIN(p.top1 - u.top1), 2) AS min_diff,
      ROUND(100 * MAX(p.top1 - u.top1), 2) AS max_diff, COUNT(*) AS seeds
      FROM results p JOIN results u ON u.granularity = p.granularity AND u.schedule = p.schedule AND u.seed = p.seed
       AND u.run_target_sparsity = p.run_target_sparsity AND u.ratio_policy = 'uniform'
      WHERE p.is_final AND u.is_final AND p.ratio_policy != 'uniform'
      GROUP BY 1, 2, 3 ORDER BY 1, 2, 4 DESC" | sed 's/^/    /'
  echo
  echo "### Time each search took (seconds, first pruning step, searches that were not reused)"
  echo
  "$RUNNER" query "$db" "SELECT r.granularity, r.ratio_policy, l.kind,
      ROUND(AVG(json_extract(l.data, '$.search_s')), 1) AS mean_s, ROUND(MAX(json_extract(l.data, '$.search_s')), 1) AS max_s,
      COUNT(*) AS searches
      FROM search_log l JOIN runs r ON r.id = l.run_id
      WHERE l.kind IN ('sensitivity', 'amc', 'netadapt') AND l.step = 1
        AND COALESCE(json_extract(l.data, '$.curves_cached'), 0) = 0
      GROUP BY 1, 2, 3 ORDER BY 1, 2" | sed 's/^/    /'
  echo
  local g policy
  for g in element channel; do
    run_figure "$db" sensitivity "ratio-sensitivity-$g" \
      "Sensitivity curves of ResNet-20, $g granularity (each unit pruned alone" \
      "SELECT l.run_id FROM search_log l JOIN runs r ON r.id = l.run_id
       WHERE l.kind = 'sensitivity' AND l.step = 1 AND r.granularity = '$g' ORDER BY r.seed, l.run_id LIMIT 1"
  done
  for policy in sensitivity amc; do
    run_figure "$db" layers "ratio-layers-$policy" "Per-layer sparsity chosen by $policy (element" \
      "SELECT id FROM runs WHERE status = 'done' AND ratio_policy = '$policy'
       AND granularity = 'element' AND schedule = 'one_shot' ORDER BY seed LIMIT 1"
  done
}

# run_figure DB KIND NAME CAPTION SQL: plots `KIND` for the run the query picks (if any) into
# $IMG/NAME.png and prints the caption (closed with ", run ID):") and the image link.
run_figure() {
  local db="$1" kind="$2" name="$3" caption="$4" sql="$5" run
  run=$("$RUNNER" query "$db" "$sql" | first_id)
  [ -n "$run" ] || return 0
  "$RUNNER" plot "$db" --kind "$kind" --run "$run" --out "$IMG/$name.png" > /dev/null
  echo "$caption, run $run):"
  echo
  echo "![$name](img/$name.png)"
  echo
}

recalibration_section() {  # prune-only with BatchNorm statistics re-estimated, next to criteria.yaml's
  local db crit
  open_section recalibration || return 0
  crit="$(db_path criteria)"
  echo "Prune only, uniform ratios, with the BatchNorm running statistics re-estimated on 20 training"
  echo "batches after pruning (\`finetune.recalibrate_bn: 20\`). The same runs without it are the"
  echo "\`one_shot(epochs=0)\` rows of \`experiments/criteria.yaml\` (same dense models and masks), repeated"
  echo "below the first table."
  echo
  echo "### Test top-1 (%), recalibrated"
  echo
  "$RUNNER" report "$db" --rows granularity,criterion
  echo
  if [ -f "$crit" ]; then
    echo "### Test top-1 (%), the same prune-only runs without recalibration (criteria.yaml)"
    echo
    "$RUNNER" report "$crit" --rows granularity,criterion \
      --where "schedule = 'one_shot(epochs=0)' AND criterion IN ('random', 'magnitude', 'obs', 'reconstruction')"
    echo
  fi
}

granularity_section() {  # the granularity axis: accuracy next to compression and speed-ups
  local db
  open_section granularity || return 0
  "$RUNNER" query "$db" "SELECT COUNT(*) AS runs, SUM(status = 'done') AS done, SUM(status = 'failed') AS failed,
      ROUND((julianday(MAX(finished_at)) - julianday(MIN(started_at))) * 1440, 1) AS wall_min,
      MAX(threads) AS threads FROM runs" | sed 's/^/    /'
  echo
  echo "Sparsity is in each granularity's own units: the fraction of weights for element, pattern,"
  echo "vector and kernel; the fraction of channels of the pruned channel groups for channel"
  echo "(\`weight_sparsity\` gives the fraction of zero weights that results)."
  echo
  echo "### Side by side, one-shot + fine-tune (means over seeds)"
  echo
  echo "theoretical = dense MACs / MACs of the nonzero weights (ShrinkBench); physical = dense MACs /"
  echo "MACs of the physically pruned model; measured = dense latency / physically pruned latency"
  echo "(median, inference mode, 2 threads, the two models timed alternately in the same process)."
  echo
  "$RUNNER" query "$db" "SELECT granularity, run_target_sparsity AS sparsity,
      ROUND(100 * AVG(weight_sparsity), 1) AS weight_sparsity_pct, ROUND(100 * AVG(top1), 2) AS top1_pct,
      ROUND(AVG(compression), 2) AS compression, ROUND(AVG(speedup), 2) AS theoretical,
      ROUND(AVG(speedup_physical), 2) AS physical, ROUND(AVG(measured_speedup_b64), 2) AS measured_b64,
      ROUND(AVG(measured_speedup_b1), 2) AS measured_b1, ROUND(AVG(latency_b64_ms), 2) AS ms_b64,
      ROUND(AVG(dense_latency_b64_ms), 2) AS dense_ms_b64, printf('%.1e', MAX(physical_max_diff)) AS max_diff,
      COUNT(*) AS seeds
      FROM results WHERE is_final AND schedule = 'one_shot'
      GROUP BY granularity, run_target_sparsity
      ORDER BY run_target_sparsity, CASE granularity WHEN 'element' THEN 0 WHEN 'pattern2:4' THEN 1
        WHEN 'vector' THEN 2 WHEN 'kernel' THEN 3 WHEN 'channel' THEN 4 ELSE 5 END" | sed 's/^/    /'
  echo
  echo "### Test top-1 (%) by granularity and schedule"
  echo
  "$RUNNER" report "$db" --rows granularity,schedule
  echo
  echo "### Measured speed-up at batch 64, one-shot"
  echo
  "$RUNNER" report "$db" --rows granularity --metric measured_speedup --where "schedule = 'one_shot'"
  echo
  echo "### Theoretical speed-up (ShrinkBench), one-shot"
  echo
  "$RUNNER" report "$db" --rows granularity --metric speedup --where "schedule = 'one_shot'"
  echo
  echo "### Iterative minus one-shot, same seed, same total budget (points of test top-1)"
  echo
  "$RUNNER" query "$db" "SELECT o.granularity, o.run_target_sparsity AS sparsity,
      ROUND(100 * AVG(i.top1 - o.top1), 2) AS mean_diff, ROUND(100 * MIN(i.top1 - o.top1), 2) AS min_diff,
      ROUND(100 * MAX(i.top1 - o.top1), 2) AS max_diff, COUNT(*) AS seeds
      FROM results o JOIN results i ON i.granularity = o.granularity AND i.run_target_sparsity = o.run_target_sparsity
       AND i.seed = o.seed
      WHERE o.is_final AND i.is_final AND o.schedule = 'one_shot' AND i.schedule = 'iterative'
      GROUP BY 1, 2 ORDER BY 2, 1" | sed 's/^/    /'
  echo
  "$RUNNER" plot "$db" --kind accuracy --rows granularity --where "schedule = 'one_shot'" \
    --title "granularity: test top-1 vs sparsity (in each granularity's units), one-shot + fine-tune" \
    --out "$IMG/granularity-accuracy.png" > /dev/null
  echo "![granularity: accuracy vs sparsity](img/granularity-accuracy.png)"
  echo
  "$RUNNER" plot "$db" --kind speedup --x-metric measured_speedup --rows granularity --where "schedule = 'one_shot'" \
    --title "granularity: test top-1 vs measured speed-up at batch 64, one-shot + fine-tune" \
    --out "$IMG/granularity-measured-speedup.png" > /dev/null
  echo "![granularity: accuracy vs measured speed-up](img/granularity-measured-speedup.png)"
  echo
  "$RUNNER" plot "$db" --kind speedup --rows granularity --where "schedule = 'one_shot'" \
    --title "granularity: test top-1 vs theoretical speed-up, one-shot + fine-tune" \
    --out "$IMG/granularity-theoretical-speedup.png" > /dev/null
  echo "![granularity: accuracy vs theoretical speed-up](img/granularity-theoretical-speedup.png)"
  echo
}

schedules_section() {  # how pruning and fine-tuning interleave, under two budget rules
  local db
  open_section schedules || return 0
  "$RUNNER" query "$db" "SELECT COUNT(*) AS runs, SUM(status = 'done') AS done, SUM(status = 'failed') AS failed,
      ROUND((julianday(MAX(finished_at)) - julianday(MIN(started_at))) * 1440, 1) AS wall_min,
      COUNT(DISTINCT seed) AS seeds FROM runs" | sed 's/^/    /'
  echo
  echo "Budget rules: every schedule except \`iterative(budget=per_step)\` spends the same total fine-tuning"
  echo "budget (0.5 epoch); \`per_step\` gives that budget to every pruning step (4-5 steps, so 4-5x the"
  echo "training). Optimizer steps each run actually took, summed over its pruning steps:"
  echo
  "$RUNNER" query "$db" "SELECT schedule, MIN(t) AS min_total_steps, MAX(t) AS max_total_steps, COUNT(*) AS runs
      FROM (SELECT r.schedule, SUM(s.finetune_steps) AS t FROM runs r JOIN steps s ON s.run_id = r.id
            WHERE r.status = 'done' GROUP BY r.id) GROUP BY schedule ORDER BY schedule" | sed 's/^/    /'
  echo
  echo "### Test top-1 (%)"
  echo
  "$RUNNER" report "$db" --rows schedule
  echo
  echo "### Each schedule minus one-shot, same seed (points of test top-1)"
  echo
  "$RUNNER" query "$db" "SELECT i.schedule, o.run_target_sparsity AS sparsity,
      ROUND(100 * AVG(i.top1 - o.top1), 2) AS mean_diff, ROUND(100 * MIN(i.top1 - o.top1), 2) AS min_diff,
      ROUND(100 * MAX(i.top1 - o.top1), 2) AS max_diff, COUNT(*) AS seeds
      FROM results o JOIN results i ON i.run_target_sparsity = o.run_target_sparsity AND i.seed = o.seed
      WHERE o.is_final AND i.is_final AND o.schedule = 'one_shot' AND i.schedule != 'one_shot'
      GROUP BY 1, 2 ORDER BY 1, 2" | sed 's/^/    /'
  echo
  "$RUNNER" plot "$db" --kind accuracy --rows schedule \
    --title "schedules: test top-1 vs sparsity, global magnitude, ResNet-20 (mean ± std over seeds)" \
    --out "$IMG/schedules-accuracy.png" > /dev/null
  echo "![schedules: accuracy vs sparsity](img/schedules-accuracy.png)"
  echo
}

mobilenet_section() {  # channel pruning of a TorchScript MobileNetV2-style network
  local db
  open_section mobilenet || return 0
  echo "A MobileNetV2-style network written in Python (\`scripts/export_mobilenet.py\`: stem conv, eight"
  echo "inverted residual blocks, 1×1 head conv, 152 k parameters) loaded as TorchScript; its channel groups"
  echo "come from the graph. \`channel\` (inner scope) prunes every block's expand channels, the depthwise"
  echo "conv and its BatchNorm following them, and the head conv's channels; \`channel-coupled\` also prunes"
  echo "the four residual streams (one decision per stream channel). Sparsity is the fraction of the pruned"
  echo "groups' channels, weighted by their weights. Prune only (\`one_shot(epochs=0)\`) and one-shot + 0.5"
  echo "epoch fine-tuning."
  echo
  # Written from results/published/mobilenet.db (seed 1); rewrite them when the grid changes.
  cat <<'TEXT'
Findings (one seed, so differences under a point are within noise). The dense model reaches 91.94 %
after 4 epochs. After one-shot + 0.5 epoch fine-tuning with uniform ratios every criterion keeps
within 1.6 points of it at 30 % of the inner channels (reconstruction 91.30, magnitude 91.13,
BN-scale 90.98, Taylor 90.86, random 90.35 %) and within 3.6 points at 50 % (magnitude 90.27 …
random 88.41 %), cutting 29.9 / 49.7 % of the parameters and 29.8 / 49.6 % of the MACs: once
fine-tuned the criteria differ little, as on ResNet-20, with random last. Prune only, every criterion
but reconstruction collapses (10–61 %), while ThiNet-style reconstruction with its refit keeps 91.00 /
89.59 % with no fine-tuning. One global threshold on unnormalised scores is fragile here: global
magnitude matches uniform (91.49 / 90.29 %), but global BN-scale leaves the head conv 1 of its 256
channels and ends at 22.04 / 24.32 % even after fine-tuning, and global Taylor at 50 % takes 92 % of
the head's and 84 % of the last block's expand channels (79.83 %). Pruning the residual streams too
(coupled, magnitude) removes 48 / 71 % of the parameters at 30 / 50 % (uniform; 88 % with global at
50 %) for 89.07 / 86.22 % (global: 90.27 / 84.00 %). Every run's physically pruned network matched the
masked one (largest difference 2.9e-06) and none failed; the measured speed-ups are rough, because the
two cores were shared with other builds: runs with the same pruned architecture (prune only and
fine-tuned) measured 2.07× and 1.48× at batch 64 (magnitude, uniform, 50 %).
TEXT
  echo
  "$RUNNER" query "$db" "SELECT granularity, COUNT(*) AS runs, SUM(status = 'done') AS done, SUM(status = 'failed') AS failed,
      ROUND((julianday(MAX(finished_at)) - julianday(MIN(started_at))) * 1440, 1) AS wall_min,
      ROUND(SUM(wall_s) / 60, 1) AS summed_run_min, MAX(threads) AS threads FROM runs GROUP BY 1" | sed 's/^/    /'
  echo
  echo "### Test top-1 (%)"
  echo
  "$RUNNER" report "$db" --rows granularity,schedule,criterion,ratio_policy
  echo
  echo "### Size and speed of every one-shot + fine-tune run (means over seeds)"
  echo
  echo "params and MACs cut: of the physically pruned network against the dense one; measured = dense"
  echo "latency / physically pruned latency (median, 2 threads, the two timed alternately in the same"
  echo "process, on a machine shared with other jobs); max_diff: physically pruned vs masked outputs."
  echo
  "$RUNNER" query "$db" "SELECT granularity, criterion, ratio_policy, run_target_sparsity AS sparsity,
      ROUND(100 * AVG(top1), 2) AS top1_pct, ROUND(100 * AVG(weight_sparsity), 1) AS weight_sparsity_pct,
      ROUND(100 * (1 - AVG(CAST(params_physical AS REAL) / params)), 1) AS params_cut_pct,
      ROUND(100 * (1 - AVG(CAST(flops_physical AS REAL) / flops)), 1) AS macs_cut_pct,
      ROUND(AVG(measured_speedup_b64), 2) AS measured_b64, ROUND(AVG(measured_speedup_b1), 2) AS measured_b1,
      printf('%.1e', MAX(physical_max_diff)) AS max_diff, COUNT(*) AS seeds
      FROM results WHERE is_final AND schedule = 'one_shot'
      GROUP BY 1, 2, 3, 4 ORDER BY 1, 4, 3, 2" | sed 's/^/    /'
  echo
  "$RUNNER" plot "$db" --kind accuracy --rows criterion --where "schedule = 'one_shot' AND granularity = 'channel' AND ratio_policy = 'uniform'" \
    --title "mobilenet: test top-1 vs channel sparsity, inner scope, uniform ratios, one-shot + fine-tune" \
    --out "$IMG/mobilenet-accuracy.png" > /dev/null
  echo "![mobilenet: accuracy vs sparsity](img/mobilenet-accuracy.png)"
  echo
}

sparse_speed_section() {  # accuracy vs measured speed-up with the sparse kernels, every granularity
  local db
  open_section sparse-speed || return 0
  echo "What each granularity's sparsity is worth at inference (issue 18): ResNet-20 on Fashion-MNIST,"
  echo "magnitude, uniform ratios, one-shot + 0.25 epoch fine-tuning (one seed, 2 dense epochs: a short"
  echo "companion of \`experiments/granularity.yaml\`, whose databases are not on this machine), timed as"
  echo "deployed: BatchNorm folded, every conv/linear layer by the faster of dense oneDNN and prunelab's sparse"
  echo "kernel (measured per layer, then kept only if the whole model is faster), against the dense model in"
  echo "the same interleaved timing, 1 thread pinned to a core. theoretical = dense MACs / MACs of the"
  echo "nonzero weights; physical = dense MACs / MACs after channel removal; sparse_b64/_b1 = layers that ran"
  echo "the sparse kernel (of 22); kernel_diff = largest relative difference of a sparse layer's output."
  echo
  # Written from results/published/sparse-speed.db; rewrite them when the grid changes.
  cat <<'TEXT'
Findings (one seed; the dense model reaches 91.08 % after its 2 epochs, so accuracies are lower than in
granularity.yaml; rerun after the second kernel pass of 2026-12-01 with the same accuracies, bit for bit).
Irregular sparsity is worth real speed: at batch 1 element pruning measures 1.34 / 1.69 / 2.23 / 3.29 /
3.73× at 50 / 70 / 80 / 90 / 95 %, vector and kernel pruning 3.32× and 3.14× at 90 %, 2:4 1.35× (on
dense kernels all of these were 1.00×). At batch 64 the sparse kernels pay from 80–90 %: element 1.16× at
80 %, 1.55× at 90 %, 2.00× at 95 %, vector 1.71× and kernel 1.79× at 90 %; below that the whole-model
check mostly keeps dense kernels (0.96–1.03×). On this CPU channel pruning is still the better trade at
batch 64 (coupled 50 %: 2.49× at 84.78 %, against element 90 %: 1.55× at 79.85 %); at batch 1 element
80 % (2.23× at 86.67 %) beats coupled channel 50 % (2.04× at 84.78 %). Every sparse layer's output was
within 8e-7 (relative) of its dense output.
TEXT
  echo
  "$RUNNER" query "$db" "SELECT COUNT(*) AS runs, SUM(status = 'done') AS done, SUM(status = 'failed') AS failed,
      ROUND((julianday(MAX(finished_at)) - julianday(MIN(started_at))) * 1440, 1) AS wall_min, MAX(threads) AS threads
      FROM runs" | sed 's/^/    /'
  echo
  "$RUNNER" query "$db" "SELECT granularity, run_target_sparsity AS sparsity,
      ROUND(100 * weight_sparsity, 1) AS weight_sparsity_pct, ROUND(100 * top1, 2) AS top1_pct,
      ROUND(speedup, 2) AS theoretical, ROUND(speedup_physical, 2) AS physical,
      ROUND(measured_speedup_b64, 2) AS measured_b64, ROUND(measured_speedup_b1, 2) AS measured_b1,
      sparse_layers_b64 AS sparse_b64, sparse_layers_b1 AS sparse_b1,
      ROUND(latency_b64_ms, 2) AS ms_b64, ROUND(dense_latency_b64_ms, 2) AS dense_ms_b64,
      CASE WHEN kernel_max_diff IS NULL THEN '-' ELSE printf('%.1e', kernel_max_diff) END AS kernel_diff
      FROM results WHERE is_final ORDER BY granularity, sparsity" | sed 's/^/    /'
  echo
  "$RUNNER" plot "$db" --kind speedup --x-metric measured_speedup --rows granularity \
    --title "ResNet-20: top-1 vs measured speed-up, batch 64, sparse kernels" \
    --out "$IMG/sparse-speed-measured-b64.png" > /dev/null
  echo "![accuracy vs measured speed-up at batch 64](img/sparse-speed-measured-b64.png)"
  echo
  "$RUNNER" plot "$db" --kind speedup --x-metric measured_speedup_b1 --rows granularity \
    --title "ResNet-20: top-1 vs measured speed-up, batch 1, sparse kernels" \
    --out "$IMG/sparse-speed-measured-b1.png" > /dev/null
  echo "![accuracy vs measured speed-up at batch 1](img/sparse-speed-measured-b1.png)"
  echo
}

{
  echo "# Results"
  echo
  echo "Generated by \`scripts/make-results.sh\` from the databases in \`results/published/\` (committed; an"
  echo "experiment not published yet is read from \`results/\`) — do not edit by hand. Sources:"
  echo
  for name in resnet granularity schedules criteria ratio recalibration mobilenet sparse-speed quick; do
    if [ -f "$(db_path "$name")" ]; then echo "- \`experiments/$name.yaml\`: \`$(db_path "$name")\`"; fi
  done
  echo
  echo "Every number below comes from \`runner report\`, \`runner query\` or \`runner plot\` on those files."
  echo "Machine: 2 CPU cores, LibTorch 1.13 (Debian), threads as configured in each experiment."
  echo
  section resnet
  granularity_section
  schedules_section
  criteria_section
  ratio_section
  recalibration_section
  mobilenet_section
  sparse_speed_section
  section quick
} > "$OUT"
echo "wrote $OUT"
