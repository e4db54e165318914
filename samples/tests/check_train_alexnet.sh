#!/usr/bin/env bash
# CTest (label cpu): train_alexnet smoke runs on the CPU at a small input size (synthetic and on a
# slice of Fashion-MNIST resized on the fly), the format of their last lines, and flag errors.
# Usage: check_train_alexnet.sh PATH/TO/train_alexnet [DATA_DIR]
set -uo pipefail
exe=$1
data=${2:-${TILENET_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}}
fail() { echo "FAIL: $*" >&2; exit 1; }
[ -f "$data/train-images-idx3-ubyte.gz" ] || [ -f "$data/train-images-idx3-ubyte" ] ||
  fail "Fashion-MNIST not found in $data (apt-get install dataset-fashion-mnist)"
num='[0-9]+(\.[0-9]+)?'

out=$("$exe" --synthetic --device cpu --size 67 --batch-size 2 --classes 10 --steps 2 --warmup 1 2>&1) ||
  fail "synthetic run exited $?: $out"
last=$(printf '%s\n' "$out" | tail -n 1)
[[ "$last" =~ ^images_per_s=$num\ step_ms=$num\ peak_mem_mb=[0-9]+$ ]] || fail "synthetic last line: '$last'"

out=$("$exe" --data "$data" --device cpu --size 67 --batch-size 16 --train-limit 64 --test-limit 32 --epochs 1 \
        --bn --verbose 2 2>&1) || fail "data run exited $?: $out"
last=$(printf '%s\n' "$out" | tail -n 1)
[[ "$last" =~ ^test_accuracy=0\.[0-9]{4}\ test_loss=$num\ epoch_time_s=$num\ images_per_s=$num\ peak_mem_mb=[0-9]+$ ]] ||
  fail "data last line: '$last'"

for args in "--synthetic --data $data" "" "--synthetic --size 32" "--synthetic --precision half" \
            "--synthetic --classes -3" "--synthetic --classes 0" "--synthetic --momentum 1.5" \
            "--synthetic --momentum -0.1"; do
  # shellcheck disable=SC2086
  err=$("$exe" $args 2>&1 > /dev/null); rc=$?
  [ $rc -eq 2 ] || fail "train_alexnet $args exited $rc, expected 2"
  [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || fail "train_alexnet $args: expected a one-line error, got '$err'"
done
err=$("$exe" --synthetic --classes -3 2>&1 > /dev/null)
[[ "$err" == *"--classes must be >= 1, got -3"* ]] || fail "--classes -3: '$err'"
err=$("$exe" --synthetic --momentum 1.5 2>&1 > /dev/null)
[[ "$err" == *"--momentum must be in [0, 1], got 1.5"* ]] || fail "--momentum 1.5: '$err'"
echo "train_alexnet checks passed"
