#!/usr/bin/env bash
# Packs what a GPU machine without build tools needs to run tilenet's GPU tests, sanitizers,
# benchmarks and samples into one folder (default .gpu/, ignored by git, < 64 MiB):
#   .gpu/payload.tar.xz  bin/ (test, bench and sample executables, sm_90 SASS) and lib/ (one shared
#                        libtilenet.so holding all device code, plus libraries a bare CUDA image may
#                        lack, e.g. libbenchmark): xz keeps the kit far below the 64 MiB carry limit
#   .gpu/run.sh          the runner (scripts/gpu_kit_run.sh); it unpacks the payload first
#   .gpu/bench/          the PyTorch comparison scripts;  .gpu/data/  datasets given with --data
#                        (default: Debian's Fashion-MNIST, /usr/share/datasets/fashion-mnist, when
#                        installed: the e2e step and the sample runs need it as data/fashion-mnist)
# cuBLAS and cuDNN (for the baselines) are too large to carry: the runner finds them on the GPU
# machine (CUDA toolkit or PyTorch's wheels).
# Usage: scripts/gpu_kit_pack.sh [--arch 90] [--out .gpu] [--data DATASET_DIR]...
set -euo pipefail
cd "$(dirname "$0")/.."
arch=90
out=.gpu
data=()
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) arch="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --data) data+=("$2"); shift 2 ;;
    *) echo "usage: $0 [--arch 90] [--out DIR] [--data DATASET_DIR]..." >&2; exit 2 ;;
  esac
done
default_data=/usr/share/datasets/fashion-mnist
if [ ${#data[@]} -eq 0 ] && [ -d "$default_data" ]; then
  data=("$default_data")
fi
build=build/gpu-kit
mkdir -p build
exec 9>build/.build.lock
flock 9
cmake --preset gpu-kit -DCMAKE_CUDA_ARCHITECTURES="${arch}-real" >/dev/null
cmake --build "$build"
flock -u 9

rm -rf "$out"
mkdir -p "$out/bin" "$out/lib" "$out/bench"
find "$build/tests" "$build/bench" "$build/samples" -maxdepth 2 -type f -perm -u+x \
  \( -name 'test_*' -o -name 'bench_*' -o -name 'train_*' \) -exec cp {} "$out/bin/" \; 2>/dev/null || true
cp scripts/gpu_kit_run.sh "$out/run.sh"
mkdir -p "$out/scripts" && cp samples/tests/check_samples_cuda.sh "$out/scripts/"
cp bench/*.py "$out/bench/" 2>/dev/null || true
git rev-parse --short HEAD > "$out/COMMIT" 2>/dev/null || echo unknown > "$out/COMMIT"
git status --porcelain | grep -q . && echo "dirty" >> "$out/COMMIT" || true

# Carry the non-system shared libraries, except the CUDA ones the GPU image provides.
for exe in "$out"/bin/* "$build"/libtilenet.so; do
  ldd "$exe" 2>/dev/null | awk '/=> \//{print $3}'
done | sort -u | while read -r lib; do
  case "$(basename "$lib")" in
    libc.so*|libm.so*|libdl.so*|libpthread.so*|librt.so*|ld-linux*|libgcc_s*|libstdc++*) ;;
    libcublas*|libcudnn*|libcudart*|libcuda.so*|libnvrtc*|libz.so*) ;;
    *) cp -L "$lib" "$out/lib/" ;;
  esac
done
strip --strip-unneeded "$out"/bin/* "$out"/lib/* 2>/dev/null || true
ls "$out/bin" | tr '\n' ' '; echo
du -sh "$out/bin" "$out/lib"
(cd "$out" && tar cf - bin lib | xz -T0 -6 > payload.tar.xz && rm -rf bin lib)
for d in "${data[@]}"; do
  mkdir -p "$out/data" && cp -rL "$d" "$out/data/"
done
[ -d "$out/data/fashion-mnist" ] ||
  echo "note: no data/fashion-mnist in the kit (apt-get install dataset-fashion-mnist, or --data DIR named fashion-mnist): the e2e step and the MNIST sample runs will fail" >&2
du -sh "$out"
