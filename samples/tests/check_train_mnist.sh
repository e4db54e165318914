#!/usr/bin/env bash
# CTest (label cpu): runs train_mnist on the CPU on a slice of Fashion-MNIST and checks the format
# of its last line, then that bad flags and bad data give a clear message and a non-zero exit.
# Fails (does not skip) when the data set is missing: install dataset-fashion-mnist.
# Usage: check_train_mnist.sh PATH/TO/train_mnist [DATA_DIR]
set -uo pipefail
exe=$1
data=${2:-${TILENET_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}}
fail() { echo "FAIL: $*" >&2; exit 1; }
[ -f "$data/train-images-idx3-ubyte.gz" ] || [ -f "$data/train-images-idx3-ubyte" ] ||
  fail "Fashion-MNIST not found in $data (apt-get install dataset-fashion-mnist)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

out=$("$exe" --data "$data" --device cpu --model mlp --epochs 1 --train-limit 2000 --test-limit 500 \
        --verbose 2 --history "$tmp/h.csv" 2>&1) || fail "train_mnist exited $?: $out"
echo "$out"
last=$(printf '%s\n' "$out" | tail -n 1)
re='^test_accuracy=0\.[0-9]{4} test_loss=[0-9]+\.[0-9]{4} epoch_time_s=[0-9]+\.[0-9]{3} peak_mem_mb=[0-9]+$'
[[ "$last" =~ $re ]] || fail "last line has the wrong format: '$last'"
acc=${last#test_accuracy=}; acc=${acc%% *}
awk -v a="$acc" 'BEGIN { exit !(a > 0.5) }' || fail "accuracy $acc after one epoch on 2000 images is implausibly low"
[ "$(head -n 1 "$tmp/h.csv" | cut -c1-6)" = "epoch," ] || fail "history CSV missing or malformed"
grep -q '</svg>' "$tmp/h.svg" || fail "history plot $tmp/h.svg missing or malformed"

expect_error() {  # expect_error STATUS TEXT args...: exit status STATUS and TEXT on stderr
  local want=$1 text=$2; shift 2
  local err rc
  err=$("$exe" "$@" 2>&1 >/dev/null); rc=$?
  [ $rc -eq "$want" ] || fail "train_mnist $* exited $rc, expected $want ($err)"
  [[ "$err" == *"$text"* ]] || fail "train_mnist $*: expected '$text' in: $err"
}
expect_error 2 "unknown flag --epoch (did you mean --epochs?)" --epoch 3
expect_error 2 "--model must be one of mlp, cnn" --model resnet
expect_error 2 "--epochs expects an integer" --epochs many
expect_error 2 "--data: no folder '$tmp/none'" --data "$tmp/none"
expect_error 2 "--history" --data "$data" --history "$tmp/h.txt"
mkdir -p "$tmp/bad" "$tmp/short"
labels=$(ls "$data"/train-labels-idx1-ubyte* | head -n 1)
cp "$labels" "$tmp/bad/" && cp "$labels" "$tmp/short/"
printf 'not an idx file' > "$tmp/bad/train-images-idx3-ubyte"
expect_error 1 "not an IDX file" --data "$tmp/bad" --device cpu
head -c 2000 "$(ls "$data"/train-images-idx3-ubyte* | head -n 1)" > "$tmp/short/train-images-idx3-ubyte.gz"
expect_error 1 "train-images-idx3-ubyte.gz" --data "$tmp/short" --device cpu
"$exe" --help | grep -q -- "--train-limit N" || fail "--help does not list --train-limit"
echo "train_mnist checks passed"
