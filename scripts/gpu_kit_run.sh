#!/usr/bin/env bash
# Runs on a GPU machine from a folder packed by scripts/gpu_kit_pack.sh:
#   1. every test executable (GPU cases included), JSON reports;
#   1b. (samples) short runs of the sample trainers on the GPU: MNIST MLP and CNN, AlexNet's
#      synthetic steps (fp32 with BatchNorm, mixed), then samples/tests/check_samples_cuda.sh (each
#      sample's CUDA path against its CPU path, AlexNet's Fashion-MNIST path with the GPU resize), so a
#      first-use failure shows before the e2e step depends on them;
#   2. compute-sanitizer memcheck, racecheck, initcheck and synccheck over the GPU tests
#      (TILENET_TEST_SMALL=1 shrinks the shapes);
#   3. every benchmark (Google Benchmark JSON), after the kernels' registers, stack and SASS
#      instruction mix read from libtilenet.so with cuobjdump (bench/sass_summary.py -> sass.md);
#   4. with --only ...,e2e: bench/e2e.py, the sample trainers against PyTorch (data/fashion-mnist);
#   5. optional extra commands (samples, PyTorch comparisons) given with --extra "cmd".
# Logs and JSON go to a scratch folder, packed into results.tar.gz after every step (and on exit or
# SIGTERM), which lands with summary.txt in the results folder (default $OUT, else ./gpu-results):
# two files, so the device tool's limit on returned files is never hit, and a run cut short keeps
# what it measured.
# Usage: run.sh [--results DIR] [--only tests,samples,sanitize,bench,e2e] [--filter GTEST_FILTER]
#               [--bench-filter REGEX] [--sanitize-filter GTEST_FILTER] [--extra "CMD"]...
#               [--budget SECONDS] [--sanitize-tools memcheck,racecheck,initcheck,synccheck]
# --budget stops starting new steps once that many seconds have passed, so the run finishes and
# packs its results inside a caller's time limit (default 540 when $OUT is set: the device tool
# stops a command at 600 s); summary.txt is written as the run goes.
set -uo pipefail
shopt -s nullglob
kit="$(cd "$(dirname "$0")" && pwd)"
results="${OUT:-$PWD/gpu-results}"
only="tests,samples,sanitize,bench"
filter="*"
bench_filter="."
# The deliberate out-of-memory tests make the runtime report a failed cudaMalloc, which memcheck
# counts as an API error: they run in the plain test pass instead.
san_filter="-*OutOfMemory*"
extras=()
budget=$([ -n "${OUT:-}" ] && echo 540 || echo 0)
tools="memcheck,racecheck,initcheck,synccheck"
start_s=$(date +%s)
while [ $# -gt 0 ]; do
  case "$1" in
    --results) results="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    --filter) filter="$2"; shift 2 ;;
    --bench-filter) bench_filter="$2"; shift 2 ;;
    --sanitize-filter) san_filter="$2"; shift 2 ;;
    --extra) extras+=("$2"); shift 2 ;;
    --budget) budget="$2"; shift 2 ;;
    --sanitize-tools) tools="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$results"
work=$(mktemp -d /tmp/tilenet-run.XXXXXX)
mkdir -p "$work/logs"
summary="$results/summary.txt"
: > "$summary"
say() { echo "$*" | tee -a "$summary"; }
pack() { (cd "$work" && tar czf "$results/results.tar.gz.tmp" . 2>/dev/null && mv "$results/results.tar.gz.tmp" "$results/results.tar.gz"); }
trap 'say "terminated after $(( $(date +%s) - start_s ))s"; pack; exit 143' TERM INT
trap pack EXIT
# The payload: tar with xz where the image has it, else Python's tarfile.
if [ -f "$kit/payload.tar.xz" ] && [ ! -d "$kit/bin" ]; then
  if ! tar xJf "$kit/payload.tar.xz" -C "$kit" 2>/dev/null; then
    python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1], "r:xz").extractall(sys.argv[2])' \
      "$kit/payload.tar.xz" "$kit" || { say "FATAL: cannot unpack $kit/payload.tar.xz"; exit 3; }
  fi
fi
[ -d "$kit/bin" ] || { say "FATAL: no $kit/bin (pack with scripts/gpu_kit_pack.sh)"; exit 3; }
export PATH="$PATH:/usr/local/cuda/bin"
# The dataset test and e2e read Fashion-MNIST from the kit when it carries one.
[ -d "$kit/data/fashion-mnist" ] && export TILENET_FASHION_MNIST="$kit/data/fashion-mnist"
# A step's time limit: its default, cut to what the budget has left.
limit() {
  local def=$1
  [ "$budget" -le 0 ] && { echo "$def"; return; }
  local left=$(( budget - ($(date +%s) - start_s) ))
  [ "$left" -lt 10 ] && left=10
  [ "$left" -lt "$def" ] && echo "$left" || echo "$def"
}
# True while there is time left for another step (always, without --budget).
time_left() {
  [ "$budget" -le 0 ] && return 0
  local now; now=$(date +%s)
  if [ $((now - start_s)) -ge "$budget" ]; then
    say "SKIPPED (budget of ${budget}s used): $1"
    return 1
  fi
  return 0
}

# Libraries: the kit's own, the CUDA toolkit's, and cuBLAS/cuDNN from PyTorch's wheels if present.
# PyTorch itself (bench/e2e.py) gets the original path back.
export TILENET_KIT_ORIG_LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}"
extra_libs="$kit/lib:/usr/local/cuda/lib64"
for d in $(python3 - <<'PY' 2>/dev/null
import importlib, os
for m in ("nvidia.cudnn", "nvidia.cublas", "nvidia.cu13", "nvidia.cuda_runtime"):
    try:
        mod = importlib.import_module(m)
        for p in mod.__path__:
            for sub in ("lib", "lib64"):
                if os.path.isdir(os.path.join(p, sub)):
                    print(os.path.join(p, sub))
    except Exception:
        pass
try:
    import torch
    print(os.path.join(os.path.dirname(torch.__file__), "lib"))
except Exception:
    pass
PY
); do extra_libs="$extra_libs:$d"; done
export LD_LIBRARY_PATH="$extra_libs:${LD_LIBRARY_PATH:-}"

say "tilenet GPU kit run: commit $(tr '\n' ' ' < "$kit/COMMIT"), $(date -u +%Y-%m-%dT%H:%M:%SZ)"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader 2>&1 | tee -a "$summary"
nvidia-smi > "$work/logs/nvidia-smi.txt" 2>&1
for exe in "$kit"/bin/*; do
  missing=$(ldd "$exe" 2>/dev/null | grep 'not found' | awk '{print $1}' | tr '\n' ' ')
  [ -n "$missing" ] && say "WARNING $(basename "$exe") misses: $missing"
done

status=0
if [[ ",$only," == *",tests,"* ]]; then
  say "== tests (GPU executables first)"
  gpu_tests=("$kit"/bin/test_*_gpu*)
  other_tests=()
  for exe in "$kit"/bin/test_*; do [[ "$(basename "$exe")" == *_gpu* ]] || other_tests+=("$exe"); done
  for exe in "${gpu_tests[@]}" "${other_tests[@]}"; do
    name=$(basename "$exe")
    time_left "$name" || continue
    timeout "$(limit 600)" "$exe" --gtest_filter="$filter" --gtest_output="json:$work/logs/$name.json" > "$work/logs/$name.log" 2>&1
    rc=$?
    line=$(grep -E '^\[  (PASSED|FAILED)  \]|tests? ran|SKIPPED' "$work/logs/$name.log" | tr '\n' ' ' | cut -c1-220)
    say "$name rc=$rc $line"
    [ $rc -ne 0 ] && { status=1; grep -E '^\[  FAILED  \]' "$work/logs/$name.log" | head -20 | tee -a "$summary"; }
  done
  pack
fi

if [[ ",$only," == *",samples,"* ]]; then
  say "== samples (short GPU runs of the trainers)"
  data="${TILENET_FASHION_MNIST:-}"
  runs=("train_alexnet --synthetic --device cuda --steps 3 --warmup 1 --batch-size 32 --precision mixed"
        "train_alexnet --synthetic --device cuda --steps 3 --warmup 1 --batch-size 32 --bn")
  if [ -n "$data" ]; then
    runs+=("train_mnist --data $data --device cuda --model mlp --epochs 2 --train-limit 4096 --test-limit 1024 --verbose 2"
           "train_mnist --data $data --device cuda --model cnn --epochs 2 --train-limit 4096 --test-limit 1024 --verbose 2 --precision mixed")
  else
    say "WARNING: the kit carries no data/fashion-mnist: the MNIST runs and the CUDA-vs-CPU check are skipped (and e2e's MNIST rows will fail)"
  fi
  i=0
  for r in "${runs[@]}"; do
    i=$((i + 1))
    time_left "sample $i" || continue
    set -f  # the words of a run, split on spaces, never globbed
    read -ra argv <<< "$r"
    set +f
    timeout "$(limit 150)" "$kit/bin/${argv[0]}" "${argv[@]:1}" > "$work/logs/sample_$i.log" 2>&1
    rc=$?
    say "sample $i rc=$rc: $r"
    say "  -> $(grep -v '^\s*$' "$work/logs/sample_$i.log" | tail -1 | cut -c1-200)"
    grep -q "capture of the training step failed" "$work/logs/sample_$i.log" &&
      say "  WARNING: CUDA graph capture failed, the steps ran eagerly: $(grep -m1 'capture of the training step failed' "$work/logs/sample_$i.log" | cut -c1-200)"
    [ $rc -ne 0 ] && status=1
  done
  # The samples' CUDA paths against their CPU paths on the same seed (samples/tests/check_samples_cuda.sh).
  if [ -n "$data" ] && [ -x "$kit/scripts/check_samples_cuda.sh" ] && time_left "samples CUDA vs CPU"; then
    timeout "$(limit 300)" "$kit/scripts/check_samples_cuda.sh" "$kit/bin/train_mnist" "$kit/bin/train_alexnet" "$data" \
      > "$work/logs/samples_cuda_vs_cpu.log" 2>&1
    rc=$?
    say "samples CUDA vs CPU rc=$rc: $(grep -v '^\s*$' "$work/logs/samples_cuda_vs_cpu.log" | tail -1 | cut -c1-200)"
    [ $rc -ne 0 ] && [ $rc -ne 77 ] && status=1  # 77: skipped (no GPU)
  fi
  pack
fi

if [[ ",$only," == *",sanitize,"* ]] && ! command -v compute-sanitizer >/dev/null; then
  say "SKIPPED: compute-sanitizer not found (PATH, /usr/local/cuda/bin)"
elif [[ ",$only," == *",sanitize,"* ]]; then
  say "== compute-sanitizer (TILENET_TEST_SMALL=1)"
  for tool in ${tools//,/ }; do
    for exe in "$kit"/bin/test_*_gpu*; do
      name=$(basename "$exe")
      time_left "$tool $name" || continue
      log="$work/logs/san-$tool-$name.log"
      TILENET_TEST_SMALL=1 timeout "$(limit 900)" compute-sanitizer --tool "$tool" --error-exitcode 99 \
        "$exe" --gtest_filter="$san_filter" > "$log" 2>&1
      rc=$?
      errs=$(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$log" | tail -1)
      say "$tool $name rc=$rc ${errs:-no summary line}"
      [ $rc -ne 0 ] && status=1
    done
    pack
  done
fi

if [[ ",$only," == *",bench,"* ]]; then
  say "== machine code (cuobjdump over lib/libtilenet.so)"
  timeout 120 python3 "$kit/bench/sass_summary.py" "$kit/lib/libtilenet.so" --filter '\dgemm_\w+_kernel' \
    --filter 'conv' --filter '^(?!.*(\dgemm_\w+_kernel|conv))' > "$work/sass.md" 2> "$work/logs/sass.log"
  say "sass_summary rc=$? $(tail -1 "$work/sass.md" 2>/dev/null | cut -c1-300)"
  say "== benchmarks"
  # bench_gemm first: the issue goals it measures (f16 8192^3 last of all) must not be the ones a
  # time limit cuts off.
  for exe in "$kit"/bin/bench_gemm "$kit"/bin/bench_conv "$kit"/bin/bench_cnn_ops; do
    [ -x "$exe" ] || { say "WARNING: no $exe"; continue; }
    name=$(basename "$exe")
    time_left "$name" || continue
    timeout "$(limit 600)" "$exe" --benchmark_filter="$bench_filter" --benchmark_out="$work/$name.json" \
      --benchmark_out_format=json > "$work/logs/$name.log" 2>&1
    say "$name rc=$?"
    pack
  done
  # The results tables (and the goal lines) from whatever JSON the benchmarks left.
  commit_id=$(tr '\n' ' ' < "$kit/COMMIT" | xargs)
  gpu_desc=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1 | sed 's/, /, driver /')
  for n in gemm conv cnn_ops; do
    [ -s "$work/bench_$n.json" ] || continue
    args=(--markdown)
    [ "$n" = cnn_ops ] && args=(--gpu "$gpu_desc" --commit "$commit_id")
    { echo "Measured on $gpu_desc, kit commit $commit_id, $(date -u +%Y-%m-%d) (bench_$n.json)."; echo
      timeout 60 python3 "$kit/bench/${n}_summary.py" "$work/bench_$n.json" "${args[@]}" 2> "$work/logs/${n}_summary.log"; } > "$work/$n.md"
    say "${n}_summary rc=$?"
    grep -E '^(goal|f16:|f32:)|TRUNCATED' "$work/$n.md" | tee -a "$summary"
  done
  pack
fi

if [[ ",$only," == *",e2e,"* ]] && time_left "e2e"; then
  [ -d "${TILENET_FASHION_MNIST:-$kit/data/fashion-mnist}" ] ||
    say "WARNING: no ${TILENET_FASHION_MNIST:-$kit/data/fashion-mnist}: the MNIST rows of e2e will fail (pack with --data)"
  e2e_budget=$(limit 480)
  say "== e2e (bench/e2e.py, ${e2e_budget}s)"
  timeout "$((e2e_budget + 30))" python3 "$kit/bench/e2e.py" --bin "$kit/bin" \
    --data "${TILENET_FASHION_MNIST:-$kit/data/fashion-mnist}" --out "$work/e2e" --budget-s "$((e2e_budget - 10))" \
    > "$work/logs/e2e.log" 2>&1
  rc=$?
  say "e2e rc=$rc"
  [ $rc -ne 0 ] && status=1
  python3 - "$work"/e2e/*/e2e.json <<'PY' 2>&1 | tee -a "$summary"
import json, sys
for path in sys.argv[1:]:
    for r in json.load(open(path))["results"]:
        print(f"  {r['name']}: tilenet={r['tilenet']} pytorch={r['pytorch']} goal_met={r.get('goal_met')}")
PY
  pack
fi

for cmd in "${extras[@]}"; do
  time_left "extra: $cmd" || continue
  say "== extra: $cmd"
  (cd "$kit" && KIT="$kit" RESULTS="$work" timeout "$(limit 3600)" bash -c "$cmd") >> "$work/logs/extra.log" 2>&1
  say "rc=$?"
  pack
done

say "done in $(( $(date +%s) - start_s ))s, status $status"
exit $status  # the EXIT trap packs results.tar.gz
