#!/usr/bin/env bash
# The main command: on a fresh Debian/Ubuntu machine, GPU or not, builds train_mnist and trains the
# classic Keras MNIST MLP (784-512-512-10, RMSprop, batch 128).
#   data:   real MNIST from data/mnist when its four IDX files are there (.gz or raw), else Debian's
#           Fashion-MNIST (dataset-fashion-mnist, installed when missing); it says which.
#   device: the GPU when there is one (12 epochs); otherwise the CPU, with 2 epochs on 10,000
#           training images so that it finishes in a few minutes.
# Extra arguments go to train_mnist and win over these defaults, e.g.
#   scripts/train.sh --model cnn --epochs 3 --history build/runs/cnn.csv
# Needs the CUDA Toolkit (nvcc) to build, even for CPU training.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/setup_common.sh

# --- data ----------------------------------------------------------------------------------------
has_idx_set() {
  local d=$1 f
  for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    [ -f "$d/$f" ] || [ -f "$d/$f.gz" ] || return 1
  done
}
fashion=/usr/share/datasets/fashion-mnist

# --- build dependencies --------------------------------------------------------------------------
pkgs=()
command -v cmake >/dev/null || pkgs+=(cmake)
command -v ninja >/dev/null || pkgs+=(ninja-build)
command -v g++ >/dev/null || pkgs+=(g++)
dpkg -s zlib1g-dev >/dev/null 2>&1 || pkgs+=(zlib1g-dev)
if ! has_idx_set data/mnist && ! has_idx_set "$fashion"; then pkgs+=(dataset-fashion-mnist); fi
[ ${#pkgs[@]} -gt 0 ] && apt_install "${pkgs[@]}"
require_nvcc "to build tilenet, even for CPU training"

if has_idx_set data/mnist; then
  data=data/mnist
  echo "== data: MNIST from data/mnist"
else
  data=$fashion
  echo "== data: Fashion-MNIST from $fashion (data/mnist has no MNIST; see README, Samples, to add it)"
fi

# --- build (only what training needs: no tests, no benchmarks) ------------------------------------
gpu=0
arch=90
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  gpu=1
  cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')
  [[ "$cap" =~ ^[0-9]+$ ]] && arch=$cap
fi
build=build/train-sm$arch
mkdir -p build
exec 9>"build/.train-sm$arch.lock"
flock 9
if [ ! -f "$build/build.ninja" ]; then
  echo "== configuring $build (CUDA architecture $arch)"
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="$arch" \
    -DTILENET_BUILD_TESTS=OFF -DTILENET_BUILD_BENCH=OFF -DTILENET_BUILD_SAMPLES=ON >/dev/null
fi
echo "== building train_mnist (log: $build/build.log)"
if ! cmake --build "$build" --target train_mnist > "$build/build.log" 2>&1; then
  tail -n 30 "$build/build.log" >&2
  echo "error: the build failed; the whole log is in $build/build.log" >&2
  exit 1
fi

# --- train ---------------------------------------------------------------------------------------
mkdir -p build/runs
defaults=(--data "$data" --model mlp --history build/runs/mnist_mlp.csv)
if [ $gpu -eq 1 ]; then
  defaults+=(--device cuda --epochs 12)
  echo "== GPU found: training on cuda for 12 epochs"
else
  defaults+=(--device cpu --epochs 2 --train-limit 10000)
  echo "== no GPU: training on the CPU for 2 epochs on the first 10,000 training images (a few minutes;"
  echo "   pass --epochs N --train-limit 0 for the full run)"
fi
exec "$build/samples/train_mnist" "${defaults[@]}" "$@"
