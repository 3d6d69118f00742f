#!/usr/bin/env bash
# End-to-end checks through the runner binary: exit codes, config errors, kill -9 mid-grid,
# database integrity, resume without redoing finished runs, report, SIGTERM mid-run, shards and
# their merge, --jobs.
set -u
RUNNER="$1"
SRC="$2"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
pass=0
fail=0
check() {  # check NAME CONDITION...
  local name="$1"; shift
  if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAILED: $name"; fi
}

cat > "$WORK/grid.yaml" <<'YAML'
version: 1
name: cli
seeds: [1, 2]
threads: 1
data: {dataset: synthetic, val_size: 300, synthetic_train: 3000, synthetic_test: 500}
model: lenet300
train: {epochs: 3, batch_size: 32, lr: 0.05}
finetune: {epochs: 1}
prune:
  criterion: magnitude
  ratio_policy: [uniform, global]
  schedule: [one_shot, iterative]
  sparsity: [0.5, 0.8, 0.9]
YAML

# 1. Usage and config errors exit 2 with file:line:col.
"$RUNNER" > /dev/null 2>&1; check "no arguments exits 2" test $? -eq 2
sed 's/criterion: magnitude/criterion: magnitud/' "$WORK/grid.yaml" > "$WORK/bad.yaml"
"$RUNNER" validate "$WORK/bad.yaml" > /dev/null 2> "$WORK/err"; rc=$?
check "config error exits 2" test $rc -eq 2
check "config error names file:line:col and known plugins" grep -q "bad.yaml:10:14: prune.criterion: unknown criterion 'magnitud' (known: bn_scale, fpgm, magnitude, obd, obs, random, reconstruction, taylor)" "$WORK/err"
check "unknown plugin error says where plugins are looked for" grep -q 'plugins were looked for in .*: add a directory with --plugin-dir DIR or \$PRUNELAB_PLUGIN_PATH' "$WORK/err"
check "config errors are one line" test "$(wc -l < "$WORK/err")" -eq 1
# Numbers that validate as YAML but cannot be right; negative threads.
sed 's/lr: 0.05/lr: .nan/' "$WORK/grid.yaml" > "$WORK/nan.yaml"
"$RUNNER" validate "$WORK/nan.yaml" > /dev/null 2> "$WORK/err"; rc=$?
check "a NaN learning rate exits 2" test $rc -eq 2
check "a NaN learning rate is named" grep -q "nan.yaml:7:40: train.lr: must be a finite number, got '.nan'" "$WORK/err"
sed 's/threads: 1/threads: -4/' "$WORK/grid.yaml" > "$WORK/threads.yaml"
"$RUNNER" validate "$WORK/threads.yaml" > /dev/null 2> "$WORK/err"; rc=$?
check "negative threads in the config exit 2" test $rc -eq 2 -a -n "$(grep 'threads: must be in \[0, 1024\]' "$WORK/err")"
"$RUNNER" "$WORK/grid.yaml" --threads -1 --db "$WORK/never.db" > /dev/null 2>&1; rc=$?
check "--threads -1 exits 2 before anything runs" test $rc -eq 2 -a ! -e "$WORK/never.db"
"$RUNNER" validate "$WORK/grid.yaml" > "$WORK/validate" 2>&1
check "validate lists 24 runs" grep -q "24 runs" "$WORK/validate"
# 3000 images / batch 32 = 93 steps per epoch: iterative to 0.9 splits them over four steps.
check "validate prints each run's plan" grep -q "plan: 0.3/23 0.5/23 0.7/23 0.9/24" "$WORK/validate"

# 2. Kill -9 in the middle of the grid; the database must stay intact.
"$RUNNER" "$WORK/grid.yaml" --db "$WORK/r.db" --quiet > /dev/null 2>&1 &
pid=$!
for _ in $(seq 1 1200); do
  done_runs=$(sqlite3 "$WORK/r.db" "SELECT COUNT(*) FROM runs WHERE status='done'" 2>/dev/null || echo 0)
  [ "${done_runs:-0}" -ge 3 ] && break
  sleep 0.1
done
kill -9 "$pid" 2> /dev/null
wait "$pid" 2> /dev/null
check "integrity after kill -9" test "$(sqlite3 "$WORK/r.db" 'PRAGMA integrity_check')" = ok
before=$(sqlite3 "$WORK/r.db" "SELECT COUNT(*) FROM runs WHERE status='done'")
check "some runs finished before the kill" test "$before" -ge 3
check "grid was really interrupted" test "$before" -lt 24
first_ids=$(sqlite3 "$WORK/r.db" "SELECT group_concat(x) FROM (SELECT hash || ':' || finished_at AS x FROM runs WHERE status='done' ORDER BY hash)")

# 3. Resume: finished runs are skipped (same ids, same finish times), the rest complete.
"$RUNNER" "$WORK/grid.yaml" --db "$WORK/r.db" --threads 1 > "$WORK/resume.log" 2>&1; rc=$?
check "resume exits 0" test $rc -eq 0
check "resume skipped the finished runs" grep -qE "[0-9]+ done, $before skipped" "$WORK/resume.log"
check "all 24 runs done" test "$(sqlite3 "$WORK/r.db" "SELECT COUNT(*) FROM runs WHERE status='done'")" -eq 24
check "no run left running" test "$(sqlite3 "$WORK/r.db" "SELECT COUNT(*) FROM runs WHERE status!='done'")" -eq 0
# Every run finished before the kill is still there with the same finish time.
untouched=1
for entry in $(echo "$first_ids" | tr ',' ' '); do
  h=${entry%%:*}; t=${entry#*:}
  [ "$(sqlite3 "$WORK/r.db" "SELECT finished_at FROM runs WHERE hash='$h'")" = "$t" ] || untouched=0
done
check "finished runs untouched by the resume" test $untouched -eq 1
check "integrity after resume" test "$(sqlite3 "$WORK/r.db" 'PRAGMA integrity_check')" = ok

# 4. Report prints the one-shot vs iterative table.
"$RUNNER" report "$WORK/r.db" > "$WORK/report.md"
check "report has the iterative row" grep -q "| lenet300 | element | magnitude | global | iterative |" "$WORK/report.md"
check "report has sparsity columns" grep -q "| 0.5 | 0.8 | 0.9 |" "$WORK/report.md"

# 5. A saved pruned model reloads on its own.
model=$(sqlite3 "$WORK/r.db" "SELECT model_path FROM runs WHERE status='done' LIMIT 1")
"$RUNNER" eval "$model" --latency-repeats 2 > "$WORK/eval" 2>&1; rc=$?
check "eval exits 0" test $rc -eq 0
check "eval prints accuracy, size and latency" grep -q "test top-1" "$WORK/eval"
check "eval prints latency" grep -q "ms at batch 64" "$WORK/eval"
"$RUNNER" eval "$WORK/nothing.pt" > /dev/null 2> "$WORK/err"; rc=$?
check "eval of a missing file exits 2 naming it" test $rc -eq 2 -a -n "$(grep nothing.pt "$WORK/err")"

# 6. Plugins listing names kinds, files and parameters.
"$RUNNER" plugins > "$WORK/plugins"
check "plugins lists iterative's budget parameter" grep -q "budget" "$WORK/plugins"
check "plugins lists files" grep -q "prunelab_magnitude.so" "$WORK/plugins"

# 7. Two runners on one grid and one database share the work: no run is done twice.
sed 's/seeds: \[1, 2\]/seeds: [3]/' "$WORK/grid.yaml" > "$WORK/shared.yaml"
"$RUNNER" "$WORK/shared.yaml" --db "$WORK/shared.db" --threads 1 > "$WORK/a.log" 2>&1 &
a=$!
"$RUNNER" "$WORK/shared.yaml" --db "$WORK/shared.db" --threads 1 > "$WORK/b.log" 2>&1 &
b=$!
wait $a; rc_a=$?
wait $b; rc_b=$?
check "both runners exit 0" test $rc_a -eq 0 -a $rc_b -eq 0
check "every run done once" test "$(sqlite3 "$WORK/shared.db" "SELECT COUNT(*) || '/' || SUM(status = 'done') FROM runs")" = 12/12
done_a=$(grep -oE '[0-9]+ done,' "$WORK/a.log" | grep -oE '[0-9]+')
done_b=$(grep -oE '[0-9]+ done,' "$WORK/b.log" | grep -oE '[0-9]+')
check "the two runners did 12 runs between them" test $((done_a + done_b)) -eq 12
check "integrity with two writers" test "$(sqlite3 "$WORK/shared.db" 'PRAGMA integrity_check')" = ok

# 8. A corrupt dense checkpoint (a full disk, a bad copy) is found, reported in one line and
#    retrained: the runs that need it do not fail.
sed -e 's/seeds: \[1, 2\]/seeds: [1]/' -e 's/sparsity: \[0.5, 0.8, 0.9\]/sparsity: [0.5]/' "$WORK/grid.yaml" > "$WORK/small.yaml"
for f in "$WORK"/cache/dense-*.pt; do truncate -s 1000 "$f"; done
"$RUNNER" "$WORK/small.yaml" --db "$WORK/healed.db" --quiet > /dev/null 2> "$WORK/heal.err"; rc=$?
check "a grid over a truncated dense checkpoint exits 0" test $rc -eq 0
check "the corrupt checkpoint is reported in one line" grep -q "^warning: dense checkpoint '.*dense-lenet300-.*\.pt' is corrupt (1000 bytes where .* were written: truncated or damaged); rebuilding it$" "$WORK/heal.err"
check "no run failed" test "$(sqlite3 "$WORK/healed.db" "SELECT COUNT(*) FROM runs WHERE status != 'done' OR error IS NOT NULL")" -eq 0

# 9. A database written by a newer prunelab is refused for writing, naming both versions, and
#    left as it is; report and query still read it.
sqlite3 "$WORK/healed.db" ".backup '$WORK/newer.db'"
sqlite3 "$WORK/newer.db" "UPDATE meta SET value = '99' WHERE key = 'schema_version'"
"$RUNNER" "$WORK/small.yaml" --db "$WORK/newer.db" --quiet > /dev/null 2> "$WORK/err"; rc=$?
check "a newer database exits 2" test $rc -eq 2
check "the refusal names both schema versions" grep -q "has schema version 99, newer than this runner's [0-9]*: it was written by a newer prunelab" "$WORK/err"
check "its schema version is left alone" test "$(sqlite3 "$WORK/newer.db" "SELECT value FROM meta WHERE key = 'schema_version'")" = 99
"$RUNNER" query "$WORK/newer.db" "SELECT COUNT(*) AS n FROM runs" > "$WORK/q" 2> "$WORK/err"; rc=$?
check "query reads a newer database" test $rc -eq 0 -a -n "$(grep -E '^ *[0-9]+ *$' "$WORK/q")"
check "with a note saying so" grep -q "schema version 99, newer than this runner's" "$WORK/err"
"$RUNNER" report "$WORK/newer.db" > /dev/null 2>&1
check "report reads a newer database" test $? -eq 0

# 10. Errors print and are stored as one line; --debug-log keeps LibTorch's full text.
printf 'PK\003\004 not a model' > "$WORK/garbage.pt"
"$RUNNER" eval "$WORK/garbage.pt" > /dev/null 2> "$WORK/err"; rc=$?
check "eval of a damaged model file exits 2 in one line naming it" \
  test $rc -eq 2 -a "$(wc -l < "$WORK/err")" -eq 1 -a -n "$(grep "garbage.pt" "$WORK/err")"
sed 's/criterion: magnitude/criterion: torch_error/' "$WORK/small.yaml" > "$WORK/torch_error.yaml"
"$RUNNER" "$WORK/torch_error.yaml" --db "$WORK/torch_error.db" --quiet --debug-log "$WORK/debug.log" \
  --plugin-dir "$(dirname "$RUNNER")/test_plugins/exploding_plugin" > /dev/null 2>&1; rc=$?
check "a run LibTorch failed exits 1" test $rc -eq 1
check "runs.error is one line without stack frames" \
  test "$(sqlite3 "$WORK/torch_error.db" "SELECT COUNT(*) FROM runs WHERE status = 'failed' AND error LIKE 'open file failed%' AND error NOT LIKE '%frame #%' AND instr(error, char(10)) = 0")" -eq 4
check "the debug log has LibTorch's stack trace" grep -q "frame #" "$WORK/debug.log"

# 11. SIGTERM (what Slurm sends before preempting or at the time limit) in the middle of a run:
# the runner stops at the next optimizer step, forgets that run, exits 3; a resume finishes.
sed -e 's/seeds: \[1, 2\]/seeds: [4]/' -e 's/finetune: {epochs: 1}/finetune: {epochs: 8}/' "$WORK/grid.yaml" > "$WORK/term.yaml"
"$RUNNER" "$WORK/term.yaml" --db "$WORK/term.db" > "$WORK/term.log" 2>&1 &
pid=$!
for _ in $(seq 1 1200); do
  r=$(sqlite3 "$WORK/term.db" "SELECT SUM(status='done') || ' ' || SUM(status='running') FROM runs" 2>/dev/null || echo "0 0")
  [ "${r%% *}" -ge 2 ] 2>/dev/null && [ "${r##* }" -ge 1 ] 2>/dev/null && break
  sleep 0.05
done
sleep 0.2
kill -TERM "$pid"
wait "$pid"; rc=$?
check "SIGTERM exits 3" test $rc -eq 3
check "SIGTERM says it stopped" grep -q "stopped by SIGTERM" "$WORK/term.log"
check "no run left running after SIGTERM" test "$(sqlite3 "$WORK/term.db" "SELECT COUNT(*) FROM runs WHERE status != 'done'")" -eq 0
check "integrity after SIGTERM" test "$(sqlite3 "$WORK/term.db" 'PRAGMA integrity_check')" = ok
stopped_done=$(sqlite3 "$WORK/term.db" "SELECT COUNT(*) FROM runs")
"$RUNNER" "$WORK/term.yaml" --db "$WORK/term.db" > "$WORK/term2.log" 2>&1; rc=$?
check "resume after SIGTERM exits 0" test $rc -eq 0
check "resume after SIGTERM skips what was done" grep -qE "[0-9]+ done, $stopped_done skipped" "$WORK/term2.log"
check "all runs done after SIGTERM and resume" test "$(sqlite3 "$WORK/term.db" "SELECT COUNT(*) || '/' || SUM(status='done') FROM runs")" = 12/12

# 12. Shards and merge through the binary: the merged database has the rows of the single
# process run of step 3 (same numbers), merging again changes nothing, status counts them.
for i in 0 1 2; do "$RUNNER" "$WORK/grid.yaml" --shard $i/3 --db "$WORK/sh/m.db" --quiet > /dev/null 2>&1 & done
wait
check "three shard databases" test -f "$WORK/sh/m.shards/0.db" -a -f "$WORK/sh/m.shards/1.db" -a -f "$WORK/sh/m.shards/2.db"
"$RUNNER" status "$WORK/sh/m.shards" > "$WORK/status" 2>&1
check "status of a shard directory" grep -qE "^all +24 +24 +0 +0 +0$" "$WORK/status"
"$RUNNER" merge "$WORK/sh/m.db" "$WORK/sh/m.shards" > "$WORK/merge" 2>&1; rc=$?
check "merge exits 0" test $rc -eq 0
check "merge added 24 runs" grep -q "24 runs added" "$WORK/merge"
"$RUNNER" merge "$WORK/sh/m.db" "$WORK/sh/m.shards" > "$WORK/merge" 2>&1
check "merging again adds nothing" grep -q "0 runs added, 0 replaced by a better copy, 24 already there" "$WORK/merge"
same=$(sqlite3 "$WORK/sh/m.db" "ATTACH '$WORK/r.db' AS ref; SELECT COUNT(*) || '/' || SUM(a.top1 = b.top1 AND a.loss = b.loss)
  FROM steps a JOIN runs ra ON ra.id = a.run_id JOIN ref.runs rb ON rb.hash = ra.hash JOIN ref.steps b ON b.run_id = rb.id AND b.step = a.step")
check "merged steps equal the single-process run's ($same)" test "$same" = "$(sqlite3 "$WORK/r.db" 'SELECT COUNT(*) || "/" || COUNT(*) FROM steps')"
"$RUNNER" report "$WORK/sh/m.db" > "$WORK/report2.md"
check "report on the merged database" cmp -s "$WORK/report.md" "$WORK/report2.md"
"$RUNNER" merge "$WORK/sh/m.db" "$WORK/shared.db" > /dev/null 2> "$WORK/err"; rc=$?
check "merge refuses another experiment definition (exit 2)" test $rc -eq 2
check "merge names the reason" grep -q "another experiment definition" "$WORK/err"

# 13. --jobs 2: two worker processes on one database, each run done once.
sed 's/seeds: \[1, 2\]/seeds: [5]/' "$WORK/grid.yaml" > "$WORK/jobs.yaml"
"$RUNNER" "$WORK/jobs.yaml" --db "$WORK/jobs.db" --jobs 2 --threads 2 > "$WORK/jobs.log" 2>&1; rc=$?
check "--jobs 2 exits 0" test $rc -eq 0
check "--jobs 2: every run done once" test "$(sqlite3 "$WORK/jobs.db" "SELECT COUNT(*) || '/' || SUM(status = 'done') FROM runs")" = 12/12
check "--jobs 2: both workers ran runs" test "$(sqlite3 "$WORK/jobs.db" "SELECT COUNT(DISTINCT owner) FROM runs")" -eq 2
check "--jobs 2: one thread each" grep -q "2 worker processes, 1 thread(s) each" "$WORK/jobs.log"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
