#!/usr/bin/env bash
# CTest: the samples' CUDA paths (data resident on the device, on-device shuffling and resizing,
# the captured training step, mixed precision) against their CPU paths. Each run trains on a tiny
# slice of Fashion-MNIST twice with the same seed, --device cuda and --device cpu, and the two must
# agree: test accuracy within one test image per 64, test loss within 2%. Runs on a GPU (label gpu;
# exits 77, a skip, without one) and on the CPU emulator's builds of the samples (label emu).
# Usage: check_samples_cuda.sh PATH/TO/train_mnist PATH/TO/train_alexnet [DATA_DIR]
set -uo pipefail
mnist=$1
alexnet=$2
data=${3:-${TILENET_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}}
fail() { echo "FAIL: $*" >&2; exit 1; }
[ -f "$data/train-images-idx3-ubyte.gz" ] || [ -f "$data/train-images-idx3-ubyte" ] ||
  fail "Fashion-MNIST not found in $data (apt-get install dataset-fashion-mnist)"

probe=$("$mnist" --data "$data" --device cuda --epochs 0 --test-limit 8 2>&1 >/dev/null) || {
  [[ "$probe" == *"no CUDA GPU found"* ]] && { echo "SKIP: no CUDA GPU ($probe)"; exit 77; }
  fail "train_mnist --device cuda --epochs 0 failed: $probe"
}

# last_line EXE ARGS...: the program's last output line; fails the test on a non-zero exit.
last_line() {
  local out
  out=$("$@" 2>&1) || fail "$* exited $?: $out"
  printf '%s\n' "$out" | tail -n 1
}
field() { local v=${1#*"$2"=}; echo "${v%% *}"; }

# same EXE TEST_LIMIT ARGS...: --device cuda and --device cpu give the same accuracy and loss.
same() {
  local exe=$1 limit=$2; shift 2
  local gpu cpu
  gpu=$(last_line "$exe" --device cuda "$@")
  cpu=$(last_line "$exe" --device cpu "$@")
  echo "$(basename "$exe") $*"
  echo "  cuda: $gpu"
  echo "  cpu:  $cpu"
  [[ "$gpu" == test_accuracy=* ]] || fail "cuda run: unexpected last line '$gpu'"
  awk -v a="$(field "$gpu" test_accuracy)" -v b="$(field "$cpu" test_accuracy)" \
      -v la="$(field "$gpu" test_loss)" -v lb="$(field "$cpu" test_loss)" -v n="$limit" \
      'BEGIN { d = a - b; if (d < 0) d = -d; e = la - lb; if (e < 0) e = -e;
               exit !(d <= 1.0 / 64 + 1e-9 + 1.0 / n && e <= 0.02 * lb + 1e-4) }' ||
    fail "cuda and cpu disagree: '$gpu' vs '$cpu'"
}

m="--data $data --epochs 1 --verbose 0 --seed 3"
# shellcheck disable=SC2086
{
  same "$mnist" 256 $m --model mlp --train-limit 512 --test-limit 256
  same "$mnist" 256 $m --model mlp --train-limit 512 --test-limit 256 --cuda-graph off
  same "$mnist" 128 $m --model mlp --train-limit 256 --test-limit 128 --precision mixed
  same "$mnist" 128 $m --model cnn --train-limit 256 --test-limit 128
  same "$mnist" 128 $m --model cnn --train-limit 256 --test-limit 128 --autotune off
  a="--data $data --size 67 --batch-size 8 --train-limit 16 --test-limit 16 --epochs 1 --verbose 0 --seed 5"
  same "$alexnet" 16 $a --bn --autotune off
  same "$alexnet" 16 $a --precision mixed
}
out=$("$alexnet" --device cuda --synthetic --size 67 --batch-size 2 --classes 10 --steps 2 --warmup 1 --verbose 2 2>&1) ||
  fail "train_alexnet --synthetic exited $?: $out"
last=$(printf '%s\n' "$out" | tail -n 1)
[[ "$last" =~ ^images_per_s=[0-9.]+\ step_ms=[0-9.]+\ peak_mem_mb=[0-9]+$ ]] || fail "synthetic last line: '$last'"
# Autotuning is on by default on CUDA: every convolution pass of the step was searched (conv1 needs
# no backward-data), and --verbose 2 lists the searches.
for pass in fwd bwd_data bwd_filter; do
  n=$(printf '%s\n' "$out" | grep -c "^autotune: conv2d $pass ")
  want=5; [ $pass = bwd_data ] && want=4
  [ "$n" -ge $want ] || fail "synthetic --verbose 2: $n autotune lines for $pass, expected $want or more: $out"
done
echo "sample CUDA-path checks passed"
