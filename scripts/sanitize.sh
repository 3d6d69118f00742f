#!/usr/bin/env bash
# The unit tests under AddressSanitizer + UndefinedBehaviorSanitizer: gcc, -O1 -g, in build-asan/
# (only the library, the plugins and the test binary are built). Any report fails the run.
# Run by .ci/run after scripts/run-tests.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
export CCACHE_SLOPPINESS="pch_defines,time_macros,include_file_mtime,include_file_ctime"
export CCACHE_BASEDIR="$PWD"
JOBS="${JOBS:-$(nproc)}"
start=$(date +%s)
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
      -DPRUNELAB_SANITIZE=ON -DBUILD_TESTING=ON > build-asan.configure.log 2>&1 || { cat build-asan.configure.log; exit 1; }
rm -f build-asan.configure.log
cmake --build build-asan -j "$JOBS" --target prunelab_tests
built=$(date +%s)
# LibTorch is not instrumented: its allocations are checked, its own code is not. Its static
# registries are freed by nobody at exit, hence the leak suppressions.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_init_order=1"
export LSAN_OPTIONS="suppressions=$PWD/tests/sanitizer/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# The shell tests (CLI, out-of-tree plugin, local Slurm) drive the release runner; here only the
# unit tests. Starting LibTorch and the plugins under ASan costs 10-20 s per process, so the
# binary runs as two gtest shards (one per core) instead of one process per test; the one test
# that needs a process of its own (a library unmapped once its last object is gone) runs alone.
ALONE="Plugins.ObjectsKeepTheirLibraryLoaded"
SHARDS="${CTEST_JOBS:-2}"
pids=()
for ((i = 0; i < SHARDS; ++i)); do
  (cd build-asan/tests && GTEST_TOTAL_SHARDS=$SHARDS GTEST_SHARD_INDEX=$i ./prunelab_tests --gtest_filter="-$ALONE") \
    > "build-asan/shard-$i.log" 2>&1 &
  pids+=($!)
done
failed=0
for ((i = 0; i < SHARDS; ++i)); do
  if ! wait "${pids[$i]}"; then failed=1; echo "sanitizer shard $i failed:"; grep -E "^\[  FAILED|ERROR: |runtime error" "build-asan/shard-$i.log" | head -20; tail -40 "build-asan/shard-$i.log"; fi
  grep -E "^\[  PASSED|^\[  FAILED  \] [0-9]+ test" "build-asan/shard-$i.log" || true
done
(cd build-asan/tests && ./prunelab_tests --gtest_filter="$ALONE") > build-asan/alone.log 2>&1 || { failed=1; cat build-asan/alone.log; }
[ "$failed" -eq 0 ]
done_at=$(date +%s)
echo "sanitizers: build $((built - start)) s, tests $((done_at - built)) s"
