#!/usr/bin/env bash
# The test command: on a fresh Debian/Ubuntu machine (GPU or not) installs what the build needs,
# builds everything (library, tests, benchmarks, samples) for sm_90, runs the whole test suite
# (GPU cases skip without a device), then installs the library and builds a consumer project
# with find_package(tilenet).
# Usage: scripts/test.sh [extra ctest args, e.g. -L gpu or -R Gemm]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup_common.sh

# --- dependencies -------------------------------------------------------------------------------
pkgs=()
command -v cmake >/dev/null || pkgs+=(cmake)
command -v ninja >/dev/null || pkgs+=(ninja-build)
command -v g++ >/dev/null || pkgs+=(g++)
command -v git >/dev/null || pkgs+=(git)
command -v python3 >/dev/null || pkgs+=(python3)  # bench/check_checkpoint.py runs as a test
for p in libgtest-dev libbenchmark-dev zlib1g-dev dataset-fashion-mnist; do
  dpkg -s "$p" >/dev/null 2>&1 || pkgs+=("$p")
done
[ ${#pkgs[@]} -gt 0 ] && apt_install "${pkgs[@]}"
require_nvcc "to build tilenet"

# --- build and test -----------------------------------------------------------------------------
mkdir -p build
exec 9>build/.build.lock
flock 9
cmake --preset ci
cmake --build --preset ci
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  echo "== GPU present: running CPU and GPU tests"
else
  echo "== no GPU: GPU tests (label gpu) will report as skipped"
fi
ctest --preset ci -j "$(nproc)" "$@"

# --- install + consumer project -----------------------------------------------------------------
prefix="$PWD/build/ci/install-test"
rm -rf "$prefix" build/ci/consumer
cmake --install build/ci --prefix "$prefix" >/dev/null
cmake -S tests/consumer -B build/ci/consumer -G Ninja -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release
cmake --build build/ci/consumer
./build/ci/consumer/tilenet_consumer
echo "== all tests passed; the installed package builds a consumer project"
