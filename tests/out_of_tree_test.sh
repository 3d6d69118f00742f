#!/usr/bin/env bash
# The plugin author's kit, end to end: install the framework into a scratch prefix, build
# examples/out_of_tree_plugin against the installed package only, load it and run a grid with it.
set -u
BUILD="$1"
SRC="$2"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
pass=0
fail=0
check() {
  local name="$1"; shift
  if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAILED: $name"; fi
}

cmake --install "$BUILD" --prefix "$WORK/prefix" > "$WORK/install.log" 2>&1
check "cmake --install" test $? -eq 0
check "headers installed" test -f "$WORK/prefix/include/prunelab/plugin_api.hpp"
check "package config installed" test -f "$WORK/prefix/lib/cmake/prunelab/prunelabConfig.cmake"
check "built-in plugins installed" test -f "$WORK/prefix/lib/prunelab/plugins/prunelab_magnitude.so"
# The interface hash ships with the headers: a plugin built against the install matches the runner.
check "the installed headers carry the build's interface hash" \
  cmp -s "$WORK/prefix/include/prunelab/abi_hash.hpp" "$BUILD/framework/generated/include/prunelab/abi_hash.hpp"
check "the package config exports the hash" grep -q "prunelab_PLUGIN_INTERFACE_HASH [0-9a-f]\{16\}" "$WORK/prefix/lib/cmake/prunelab/prunelabConfig.cmake"

# Configure the example from a copy, so nothing of the source tree's build is visible to it.
cp -r "$SRC/examples/out_of_tree_plugin" "$WORK/example"
cmake -S "$WORK/example" -B "$WORK/example/build" -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_PREFIX_PATH="$WORK/prefix" > "$WORK/configure.log" 2>&1
check "example configures with find_package(prunelab)" test $? -eq 0 || cat "$WORK/configure.log"
cmake --build "$WORK/example/build" > "$WORK/build.log" 2>&1
check "example builds" test $? -eq 0 || tail -20 "$WORK/build.log"
check "example plugin built" test -f "$WORK/example/build/prunelab_taylor_lite.so"

RUNNER="$WORK/prefix/bin/runner"
"$RUNNER" plugins --plugin-dir "$WORK/example/build" > "$WORK/plugins.txt" 2>&1
check "installed runner lists the example and the built-ins" grep -q "criterion taylor_lite 0.1.0" "$WORK/plugins.txt"
check "installed runner finds its own built-ins" grep -q "$WORK/prefix/lib/prunelab/plugins/prunelab_magnitude.so" "$WORK/plugins.txt"

cat > "$WORK/grid.yaml" <<'YAML'
version: 1
name: oot
seeds: [1]
threads: 1
data: {dataset: synthetic, val_size: 200, synthetic_train: 800, synthetic_test: 300}
model: lenet300
train: {epochs: 2, batch_size: 50, lr: 0.05}
finetune: {epochs: 0.5}
prune:
  criterion: [magnitude, {type: taylor_lite, batches: 2}]
  ratio_policy: global
  schedule: one_shot
  sparsity: 0.8
YAML
"$RUNNER" "$WORK/grid.yaml" --plugin-dir "$WORK/example/build" --db "$WORK/r.db" --quiet
check "grid with the example plugin exits 0" test $? -eq 0
check "the example criterion's run is done" test "$(sqlite3 "$WORK/r.db" "SELECT COUNT(*) FROM results WHERE is_final AND criterion LIKE 'taylor_lite%' AND ABS(achieved_sparsity - 0.8) < 0.005")" -eq 1
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
