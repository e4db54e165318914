#!/usr/bin/env bash
# Builds targets in the shared development tree (build/ci, the sm_90-only preset), one build at a
# time: several people or agents working in one checkout on a small machine share it.
# Usage: scripts/dev-build.sh [target...]   (no target: everything)
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build
exec 9>build/.build.lock
flock 9
[ -f build/ci/build.ninja ] || cmake --preset ci >/dev/null
args=()
for t in "$@"; do args+=(--target "$t"); done
cmake --build build/ci "${args[@]}"
