#!/usr/bin/env bash
# Installs what is missing (Debian packages only; idempotent) and builds into build/.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(build-essential cmake pkg-config ccache libtorch-dev libopenblas0-pthread libyaml-cpp-dev
          libboost-dev libboost-filesystem-dev libfmt-dev libsqlitecpp-dev libgtest-dev libcli11-dev
          zlib1g-dev libpng-dev libjpeg-dev gnuplot-nox sqlite3 dataset-fashion-mnist python3-torch python3-torchvision)
# The local Slurm of tests/slurm_test.sh (its daemons run only while that test runs).
if [ "${PRUNELAB_TEST_SLURM:-0}" = 1 ]; then PACKAGES+=(slurm-wlm munge); fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# ccache must accept precompiled headers to be of any use here.
export CCACHE_SLOPPINESS="pch_defines,time_macros,include_file_mtime,include_file_ctime"
# Paths relative to the clone, so a fresh clone in another folder (CI) hits the same cache.
export CCACHE_BASEDIR="$PWD"
JOBS="${JOBS:-$(nproc)}"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=ON > build.configure.log 2>&1 || { cat build.configure.log; exit 1; }
rm -f build.configure.log
cmake --build build -j "$JOBS"
