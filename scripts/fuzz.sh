#!/usr/bin/env bash
# libFuzzer (clang, with ASan + UBSan) on the config loader and the model-file reader, for
# FUZZ_SECONDS (default 60) each, in build-fuzz/. Seeds: experiments/*.yaml, a model file the
# target writes and a TorchScript file Python writes; crashes are kept in build-fuzz/artifacts/.
# Needs the release build's plugins (build/plugins: scripts/setup.sh first). Run by .ci/run after
# scripts/sanitize.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH="${FUZZ_SECONDS:-60}"
export CCACHE_SLOPPINESS="pch_defines,time_macros,include_file_mtime,include_file_ctime"
export CCACHE_BASEDIR="$PWD"
JOBS="${JOBS:-$(nproc)}"
if ! command -v clang++ > /dev/null || ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a > /dev/null 2>&1; then
  echo "installing: clang libclang-rt-dev"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends clang libclang-rt-dev
fi
start=$(date +%s)
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
      -DCMAKE_CXX_COMPILER=clang++ -DPRUNELAB_FUZZ=ON -DBUILD_TESTING=OFF > build-fuzz.configure.log 2>&1 \
  || { cat build-fuzz.configure.log; exit 1; }
rm -f build-fuzz.configure.log
cmake --build build-fuzz -j "$JOBS" --target fuzz_config fuzz_model_file
built=$(date +%s)
mkdir -p build-fuzz/corpus/config build-fuzz/corpus/model_file build-fuzz/artifacts
cp experiments/*.yaml build-fuzz/corpus/config/
# A TorchScript file as Python writes it (its code entries deflated, unlike LibTorch's) seeds the
# model-file reader too.
/usr/bin/python3 - build-fuzz/corpus/model_file/python-script.pt <<'PY'
import sys, torch
torch.jit.script(torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU())).save(sys.argv[1])
PY
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export LSAN_OPTIONS="suppressions=$PWD/tests/sanitizer/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
common=(-max_total_time="$SECONDS_EACH" -timeout=20 -rss_limit_mb=3072 -print_final_stats=1
        -artifact_prefix=build-fuzz/artifacts/)
PRUNELAB_FUZZ_PLUGIN_DIR=build/plugins build-fuzz/tests/fuzz/fuzz_config "${common[@]}" -max_len=16384 \
  -dict=tests/fuzz/config.dict build-fuzz/corpus/config
PRUNELAB_FUZZ_WRITE_SEEDS=build-fuzz/corpus/model_file build-fuzz/tests/fuzz/fuzz_model_file "${common[@]}" \
  -max_len=131072 build-fuzz/corpus/model_file
done_at=$(date +%s)
echo "fuzzing: build $((built - start)) s, fuzzing $((done_at - built)) s"
