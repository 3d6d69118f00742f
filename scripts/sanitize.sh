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
# unit tests (each in its own process).
ctest --test-dir build-asan --output-on-failure -j "${CTEST_JOBS:-2}" --timeout 900 -E "runner_cli|out_of_tree|slurm_local_cluster"
done_at=$(date +%s)
echo "sanitizers: build $((built - start)) s, tests $((done_at - built)) s"
