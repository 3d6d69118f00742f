#!/usr/bin/env bash
# A real Slurm on loopback: munged, slurmctld and slurmd started here with a generated
# slurm.conf (one node, two CPUs) in a temporary directory, and stopped at the end.
#  1. `runner slurm` submits a small grid as 4 shards (a dense-model array, the grid array, a
#     merge job); the merged database must equal a single-process run of the same file: the
#     same run hashes, every run done, identical accuracies (one thread on both sides).
#  2. Preemption: one task gets `scancel --signal=TERM --full` (it stops, requeues itself and
#     resumes), another `scontrol requeue` (Slurm requeues it); nothing is lost or redone twice.
# Exit 77 (skipped) where Slurm is not installed or we are not root, unless
# PRUNELAB_REQUIRE_SLURM=1 (CI), where that is a failure.
set -u
RUNNER="$1"
START=$(date +%s)
log() { echo "[slurm-test $(( $(date +%s) - START ))s] $*"; }
since() { awk -v a="$1" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }'; }  # seconds since $1 (date +%s%N)

require() {
  if [ "${PRUNELAB_REQUIRE_SLURM:-0}" = 1 ]; then echo "FAILED: $1 (PRUNELAB_REQUIRE_SLURM=1)"; exit 1; fi
  echo "SKIPPED: $1"; exit 77
}
for cmd in munged slurmctld slurmd sbatch squeue scontrol scancel sinfo sqlite3; do
  command -v "$cmd" > /dev/null || require "$cmd not found (apt-get install slurm-wlm munge sqlite3)"
done
[ "$(id -u)" -eq 0 ] || require "the local Slurm runs its daemons as root"

# Daemons of an earlier run of this test that was killed before its clean-up.
for old in /tmp/prunelab-slurm.*; do
  [ -d "$old" ] || continue
  for pidfile in "$old"/slurmd.pid "$old"/slurmctld.pid "$old"/munge/munged.pid; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    if [ -n "$pid" ] && grep -q "$old" "/proc/$pid/cmdline" 2> /dev/null; then kill -9 "$pid" 2> /dev/null; fi
  done
  rm -rf "$old"
done

W=$(mktemp -d /tmp/prunelab-slurm.XXXXXX)
chmod 755 "$W"
export SLURM_CONF="$W/slurm.conf"
stop_daemons() {
  timeout 20 scancel --user=root > /dev/null 2>&1
  for pidfile in "$W/slurmd.pid" "$W/slurmctld.pid" "$W/munge/munged.pid"; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    [ -n "$pid" ] || continue
    kill "$pid" 2> /dev/null
    for _ in $(seq 1 50); do kill -0 "$pid" 2> /dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2> /dev/null
  done
  # Job processes slurmd started and left behind (by pid, those running our runner on $W).
  for p in /proc/[0-9]*; do
    grep -q "$W" "$p/cmdline" 2> /dev/null && kill -9 "${p#/proc/}" 2> /dev/null
  done
}
cleanup() {
  stop_daemons
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 1' TERM INT

pass=0
fail=0
check() {  # check NAME CONDITION...
  local name="$1"; shift
  if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAILED: $name"; fi
}
free_port() {
  for _ in $(seq 1 50); do
    local p=$(( 20000 + RANDOM % 30000 ))
    (exec 3<> "/dev/tcp/127.0.0.1/$p") 2> /dev/null || { echo "$p"; return; }
  done
  echo 26817
}

# --- the cluster -------------------------------------------------------------------------
mkdir -p "$W/munge" "$W/state" "$W/spool" "$W/log"
chmod 700 "$W/munge"
dd if=/dev/urandom of="$W/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$W/munge/munge.key"
munged --force --key-file="$W/munge/munge.key" --socket="$W/munge/munge.sock" --pid-file="$W/munge/munged.pid" \
       --log-file="$W/munge/munged.log" --seed-file="$W/munge/munged.seed" || { echo "FAILED: munged did not start"; exit 1; }
CPUS=$(( $(nproc) < 2 ? $(nproc) : 2 ))
MEM=$(slurmd -C 2> /dev/null | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
MEM=$(( ${MEM:-2000} * 9 / 10 ))
CTLD_PORT=$(free_port)
SLURMD_PORT=$(free_port)
cat > "$SLURM_CONF" <<EOF
ClusterName=prunelabtest
SlurmctldHost=localhost
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
AuthType=auth/munge
AuthInfo=socket=$W/munge/munge.sock
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$W/state
SlurmdSpoolDir=$W/spool
SlurmctldPidFile=$W/slurmctld.pid
SlurmdPidFile=$W/slurmd.pid
SlurmctldLogFile=$W/log/slurmctld.log
SlurmdLogFile=$W/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
MinJobAge=3600
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
slurmctld -c -f "$SLURM_CONF" || { echo "FAILED: slurmctld did not start"; cat "$W/log/slurmctld.log"; exit 1; }
slurmd -f "$SLURM_CONF" -N localhost || { echo "FAILED: slurmd did not start"; cat "$W/log/slurmd.log"; exit 1; }
for _ in $(seq 1 60); do
  [ "$(timeout 10 sinfo -h -o %T 2> /dev/null)" = idle ] && break
  sleep 1
done
check "the node comes up idle" test "$(timeout 10 sinfo -h -o %T 2> /dev/null)" = idle
[ "$fail" -eq 0 ] || { tail -20 "$W/log/slurmctld.log" "$W/log/slurmd.log"; exit 1; }
log "cluster up: slurmctld :$CTLD_PORT, slurmd :$SLURMD_PORT, $CPUS CPUs"

job_state() { timeout 20 scontrol show job "$1" 2> /dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' | head -1; }
# Waits (at most $2 seconds) until job $1 has ended; lifts the two-minute hold Slurm puts on a
# requeued job (its begin time) so the test does not sit through it — but only after the job has
# been held 5 s: released at once, a job that requeued itself can be started while its previous
# instance is still being torn down, and slurmd kills it ("Job credential revoked").
declare -A HELD_SINCE
wait_for_job() {
  local job="$1" limit="$2" t0=$(date +%s) state
  while :; do
    state=$(job_state "$job")
    case "$state" in COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE) echo "$state"; return;; esac
    [ $(( $(date +%s) - t0 )) -ge "$limit" ] && { echo "TIMEOUT_WAITING($state)"; return; }
    for held in $(timeout 20 squeue -h -r -t PD -o "%i %r" 2> /dev/null | awk '$2 == "BeginTime" {print $1}'); do
      [ -n "${HELD_SINCE[$held]:-}" ] || HELD_SINCE[$held]=$(date +%s)
      [ $(( $(date +%s) - HELD_SINCE[$held] )) -ge 5 ] || continue
      timeout 20 scontrol update JobId="$held" StartTime=now > /dev/null 2>&1
      unset "HELD_SINCE[$held]"
    done
    sleep 1
  done
}
jobs_of() { tail -1 "$1" | sed -n "s/.*$2=\([0-9]*\).*/\1/p"; }

# --- 1. a grid as 4 shards against one process -------------------------------------------
cd "$W"
cat > grid.yaml <<'YAML'
version: 1
name: slurmgrid
seeds: [1, 2]
threads: 1
data: {dataset: synthetic, val_size: 300, synthetic_train: 3000, synthetic_test: 500}
model: lenet300
train: {epochs: 3, batch_size: 32, lr: 0.05}
finetune: {epochs: 1}
eval: {latency_repeats: 2}
prune:
  criterion: magnitude
  ratio_policy: [uniform, global]
  schedule: [{type: one_shot, epochs: 0}, one_shot, iterative]
  sparsity: [0.5, 0.8, 0.9]
YAML
RUNS=$("$RUNNER" validate grid.yaml | sed -n 's/.*, \([0-9]*\) runs$/\1/p')
t0=$(date +%s%N)
"$RUNNER" grid.yaml --db ref/ref.db --threads 1 --quiet; rc=$?
T_ONE=$(since "$t0")
check "the single-process run exits 0" test $rc -eq 0
log "one process, 1 thread: $RUNS runs in ${T_ONE}s"

t0=$(date +%s%N)
"$RUNNER" slurm grid.yaml --tasks 4 --cpus-per-task 1 --db results/slurmgrid.db > submit.log 2>&1; rc=$?
cat submit.log
check "runner slurm submits (exit 0)" test $rc -eq 0
DENSE=$(jobs_of results/slurmgrid.slurm/jobs dense)
GRID=$(jobs_of results/slurmgrid.slurm/jobs grid)
MERGE=$(jobs_of results/slurmgrid.slurm/jobs merge)
check "three job ids recorded" test -n "$DENSE" -a -n "$GRID" -a -n "$MERGE"
check "the grid array depends on the dense array" grep -q "Dependency=afterok:${DENSE}" <(timeout 20 scontrol show job "$GRID")
state=$(wait_for_job "$MERGE" 300)
T_SLURM=$(since "$t0")
check "the merge job completes (got $state)" test "$state" = COMPLETED
log "4 shards on Slurm (1 CPU each, $CPUS at a time): ${T_SLURM}s, submission to merged database"
for t in 0 1 2 3; do
  check "grid task $t completed" test "$(job_state "${GRID}_$t")" = COMPLETED
done
M=results/slurmgrid.db
check "merged database intact" test "$(sqlite3 "$M" 'PRAGMA integrity_check')" = ok
check "every run done ($RUNS)" test "$(sqlite3 "$M" "SELECT COUNT(*) || '/' || SUM(status = 'done') FROM runs")" = "$RUNS/$RUNS"
check "the same run hashes as one process" test "$(sqlite3 "$M" 'SELECT group_concat(hash) FROM (SELECT hash FROM runs ORDER BY hash)')" \
  = "$(sqlite3 ref/ref.db 'SELECT group_concat(hash) FROM (SELECT hash FROM runs ORDER BY hash)')"
same_steps=$(sqlite3 "$M" "ATTACH 'ref/ref.db' AS ref;
  SELECT COUNT(*) || '/' || SUM(a.top1 = b.top1 AND a.top1_val = b.top1_val AND a.loss = b.loss AND a.params_nonzero = b.params_nonzero)
  FROM steps a JOIN runs ra ON ra.id = a.run_id JOIN ref.runs rb ON rb.hash = ra.hash
  JOIN ref.steps b ON b.run_id = rb.id AND b.step = a.step")
ref_steps=$(sqlite3 ref/ref.db "SELECT COUNT(*) FROM steps")
check "identical accuracies at every step ($same_steps of $ref_steps)" test "$same_steps" = "$ref_steps/$ref_steps"
check "the same dense accuracies" test "$(sqlite3 "$M" "ATTACH 'ref/ref.db' AS ref; SELECT COUNT(*) FROM runs a JOIN ref.runs b USING (hash) WHERE a.dense_top1 != b.dense_top1")" = 0
check "every layer row carried" test "$(sqlite3 "$M" 'SELECT COUNT(*) FROM layers')" = "$(sqlite3 ref/ref.db 'SELECT COUNT(*) FROM layers')"
check "every search log row carried" test "$(sqlite3 "$M" 'SELECT COUNT(*) FROM search_log')" = "$(sqlite3 ref/ref.db 'SELECT COUNT(*) FROM search_log')"
"$RUNNER" status grid.yaml --db "$M" > status.log 2>&1
cat status.log
check "status: every shard done" grep -qE "^all +$RUNS +$RUNS +0 +0 +0$" status.log
"$RUNNER" report "$M" > report.md 2>&1
check "report works on the merged database" grep -q "$RUNS runs done" report.md
check "two dense models, each trained once by the dense array" test "$(cat results/slurmgrid.slurm/logs/dense-*.out | grep -c '| trained,')" = 2
check "no grid task trained a dense model" test "$(cat results/slurmgrid.slurm/logs/grid-*.out | grep -c 'dense lenet300 seed')" = 0

# --- 2. preemption -----------------------------------------------------------------------
cat > preempt.yaml <<'YAML'
version: 1
name: preempt
seeds: [1]
threads: 1
data: {dataset: synthetic, val_size: 300, synthetic_train: 4000, synthetic_test: 500, synthetic_size: 28}
model: lenet300
train: {epochs: 2, batch_size: 32, lr: 0.05}
finetune: {epochs: 12}
eval: {latency_repeats: 0}
prune:
  criterion: magnitude
  ratio_policy: uniform
  schedule: [one_shot, iterative]
  sparsity: [0.5, 0.7, 0.9]
YAML
PRUNS=$("$RUNNER" validate preempt.yaml | sed -n 's/.*, \([0-9]*\) runs$/\1/p')
"$RUNNER" slurm preempt.yaml --tasks 2 --cpus-per-task 1 --db results/preempt.db > submit2.log 2>&1
check "preemption grid submitted" test $? -eq 0
PGRID=$(jobs_of results/preempt.slurm/jobs grid)
PMERGE=$(jobs_of results/preempt.slurm/jobs merge)
# Waits until shard $1 has a finished run and one in progress; prints the done runs' finish times.
wait_mid_run() {
  local db="results/preempt.shards/$1.db"
  for _ in $(seq 1 600); do
    if [ -f "$db" ]; then
      local r
      r=$(sqlite3 "$db" "SELECT SUM(status = 'done') || ' ' || SUM(status = 'running') FROM runs" 2> /dev/null)
      if [ "${r%% *}" -ge 1 ] 2> /dev/null && [ "${r##* }" -ge 1 ] 2> /dev/null; then
        sqlite3 "$db" "SELECT hash || ':' || finished_at FROM runs WHERE status = 'done'"
        return 0
      fi
    fi
    sleep 0.2
  done
  return 1
}
before0=$(wait_mid_run 0); check "shard 0 got mid-grid" test -n "$before0"
sleep 0.5
timeout 20 scancel --signal=TERM --full "${PGRID}_0"
log "sent SIGTERM to ${PGRID}_0 (the runner requeues it)"
before1=$(wait_mid_run 1); check "shard 1 got mid-grid" test -n "$before1"
sleep 0.5
timeout 20 scontrol requeue "${PGRID}_1"
log "scontrol requeue ${PGRID}_1 (Slurm requeues it, as on preemption)"
state=$(wait_for_job "$PMERGE" 400)
check "the merge after the preemptions completes (got $state)" test "$state" = COMPLETED
for t in 0 1; do
  restarts=$(timeout 20 scontrol show job "${PGRID}_$t" | sed -n 's/.*Restarts=\([0-9]*\).*/\1/p')
  check "task $t was restarted (Restarts=$restarts)" test "${restarts:-0}" -ge 1
  check "task $t completed in the end" test "$(job_state "${PGRID}_$t")" = COMPLETED
done
L0=$(ls results/preempt.slurm/logs/grid-*_0.out)
check "task 0's runner stopped on SIGTERM" grep -q "stopped by SIGTERM" "$L0"
check "task 0's runner requeued itself" grep -q "requeued Slurm job" "$L0"
check "task 0 resumed, skipping what was done" grep -qE "[0-9]+ done, [1-9][0-9]* skipped" "$L0"
P=results/preempt.db
check "nothing lost: every run done ($PRUNS)" test "$(sqlite3 "$P" "SELECT COUNT(*) || '/' || SUM(status = 'done') FROM runs")" = "$PRUNS/$PRUNS"
untouched=1
for entry in $before0 $before1; do
  h=${entry%%:*}; t=${entry#*:}
  [ "$(sqlite3 "$P" "SELECT finished_at FROM runs WHERE hash='$h'")" = "$t" ] || untouched=0
done
check "runs finished before the preemption were not redone" test $untouched -eq 1
check "preempted grid's database intact" test "$(sqlite3 "$P" 'PRAGMA integrity_check')" = ok

log "timing: one process ${T_ONE}s, 4 Slurm shards ${T_SLURM}s ($RUNS runs)"
echo "$pass passed, $fail failed"
if [ "$fail" -eq 0 ]; then echo "SLURM TEST PASSED"; else KEEP=${KEEP:-0}; tail -30 "$W/log/slurmctld.log"; echo "SLURM TEST FAILED"; fi
[ "$fail" -eq 0 ]
