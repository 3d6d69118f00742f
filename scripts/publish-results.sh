#!/usr/bin/env bash
# Publishes finished experiment databases: results/NAME.db -> results/published/NAME.db, a
# compact single-file copy (VACUUM INTO, rollback journal, no -wal/-shm) that is committed, so
# scripts/make-results.sh regenerates docs/results.md from it and anyone can recheck a claim
# with `runner query results/published/NAME.db "SELECT ..."` without hours of training.
#   scripts/publish-results.sh quick [criteria ...]
# Refuses a database with runs still `running` (a grid in progress) unless FORCE=1.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: scripts/publish-results.sh NAME... (publishes results/NAME.db)" >&2; exit 2; }
mkdir -p results/published
for name in "$@"; do
  src="results/$name.db" dst="results/published/$name.db"
  [ -f "$src" ] || { echo "no $src: run experiments/$name.yaml first" >&2; exit 2; }
  running=$(sqlite3 "$src" "SELECT COUNT(*) FROM runs WHERE status = 'running'")
  if [ "$running" -gt 0 ] && [ "${FORCE:-0}" != 1 ]; then
    echo "$src has $running runs still running: finish the grid first (or FORCE=1)" >&2
    exit 1
  fi
  tmp="$dst.tmp.$$"
  rm -f "$tmp"
  sqlite3 "$src" "VACUUM INTO '$tmp'"
  sqlite3 "$tmp" "PRAGMA journal_mode=DELETE" > /dev/null
  [ "$(sqlite3 "$tmp" 'PRAGMA integrity_check')" = ok ] || { rm -f "$tmp"; echo "$src: integrity check failed" >&2; exit 1; }
  mv "$tmp" "$dst"
  echo "$dst: $(sqlite3 "$dst" "SELECT COUNT(*) || ' runs, ' || SUM(status = 'done') || ' done, ' || SUM(status = 'failed') || ' failed' FROM runs"), $(du -h "$dst" | cut -f1)"
done
