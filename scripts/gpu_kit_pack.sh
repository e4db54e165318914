#!/usr/bin/env bash
# Packs what a GPU machine without build tools needs to run tilenet's GPU tests, sanitizers,
# benchmarks and samples into one folder (default .gpu/, ignored by git, < 64 MiB):
#   .gpu/bin/   test, bench and sample executables (built for sm_90 with static libstdc++/libgcc)
#   .gpu/lib/   shared libraries they need that a bare CUDA image may lack (libbenchmark, ...)
#   .gpu/run.sh the runner (scripts/gpu_kit_run.sh), .gpu/bench/ the PyTorch comparison scripts
# cuBLAS and cuDNN (for the baselines) are too large to carry: the runner finds them on the GPU
# machine (CUDA toolkit or PyTorch's wheels).
# Usage: scripts/gpu_kit_pack.sh [--arch 90] [--out .gpu]
set -euo pipefail
cd "$(dirname "$0")/.."
arch=90
out=.gpu
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) arch="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "usage: $0 [--arch 90] [--out DIR]" >&2; exit 2 ;;
  esac
done
build=build/gpu-kit
mkdir -p build
exec 9>build/.build.lock
flock 9
cmake --preset gpu-kit -DCMAKE_CUDA_ARCHITECTURES="$arch" >/dev/null
cmake --build "$build"
flock -u 9

rm -rf "$out"
mkdir -p "$out/bin" "$out/lib" "$out/bench"
find "$build/tests" "$build/bench" "$build/samples" -maxdepth 2 -type f -perm -u+x \
  \( -name 'test_*' -o -name 'bench_*' -o -name 'train_*' \) -exec cp {} "$out/bin/" \; 2>/dev/null || true
cp scripts/gpu_kit_run.sh "$out/run.sh"
cp bench/*.py "$out/bench/" 2>/dev/null || true
git rev-parse --short HEAD > "$out/COMMIT" 2>/dev/null || echo unknown > "$out/COMMIT"
git status --porcelain | grep -q . && echo "dirty" >> "$out/COMMIT" || true

# Carry the non-system shared libraries, except the CUDA ones the GPU image provides.
for exe in "$out"/bin/*; do
  ldd "$exe" 2>/dev/null | awk '/=> \//{print $3}'
done | sort -u | while read -r lib; do
  case "$(basename "$lib")" in
    libc.so*|libm.so*|libdl.so*|libpthread.so*|librt.so*|ld-linux*|libgcc_s*|libstdc++*) ;;
    libcublas*|libcudnn*|libcudart*|libcuda.so*|libnvrtc*|libz.so*) ;;
    *) cp -L "$lib" "$out/lib/" ;;
  esac
done
strip --strip-unneeded "$out"/bin/* 2>/dev/null || true
du -sh "$out"
ls "$out/bin" | tr '\n' ' '; echo
