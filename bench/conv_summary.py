#!/usr/bin/env python3
"""Summarises bench_conv's Google Benchmark JSON: per dtype, pass and layer the time of cuDNN,
tilenet (Auto), tilenet with autotuning (Auto choosing by its own timing search), each tilenet
algorithm, the best tilenet algorithm, and the sums over AlexNet's five layers and three passes
with the tilenet/cuDNN ratios the goal is stated in.

Usage: conv_summary.py bench_conv.json [--markdown]
"""
import os
import sys
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_json  # noqa: E402


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    md = "--markdown" in sys.argv
    data = bench_json.load(sys.argv[1])
    if data.get("truncated"):
        print("TRUNCATED RUN: cut short; cases after the last complete one are missing\n")
    t = defaultdict(dict)   # (dtype, pass, layer) -> impl -> microseconds
    err = defaultdict(dict)
    label = {}
    for b in data["benchmarks"]:
        if b.get("run_type") == "aggregate":
            continue
        parts = b["name"].split("/")
        if len(parts) < 5 or parts[0] != "conv":
            continue
        dt, ps, impl, layer = parts[1], parts[2], parts[3], parts[4]
        if b.get("error_occurred"):
            t[(dt, ps, layer)][impl] = None
            continue
        us = b["real_time"] * {"ns": 1e-3, "us": 1, "ms": 1e3, "s": 1e6}[b.get("time_unit", "us")]
        t[(dt, ps, layer)][impl] = us
        if "max_rel_err" in b:
            err[(dt, ps, layer)][impl] = b["max_rel_err"]
        if impl in ("tilenet", "cudnn", "tilenet_autotune"):
            label[(dt, ps, layer, impl)] = b.get("label", "")
    impls = sorted({i for v in t.values() for i in v if i.startswith("tilenet_") and i != "tilenet_autotune"})
    sep = " | " if md else "  "
    head = (["dtype", "pass", "layer", "cudnn_us", "tilenet_us", "ratio", "autotune_us", "autotune_ratio"]
            + [i[8:] for i in impls] + ["best", "best_ratio", "err"])
    if md:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
    else:
        print(sep.join(f"{h:>12}" for h in head))
    sums = defaultdict(lambda: [0.0, 0.0, 0.0, 0])  # dtype -> cudnn, tilenet auto, best tilenet, cases
    tuned = defaultdict(lambda: [0.0, 0.0, 0])  # dtype -> cudnn, tilenet autotuned, cases
    for key in sorted(t):
        row = t[key]
        c, a, at = row.get("cudnn"), row.get("tilenet"), row.get("tilenet_autotune")
        if at is not None and err[key].get("tilenet_autotune", 0) >= 5e-2:
            at = None  # a wrong result is no time
        algos = {i: row.get(i) for i in impls}
        valid = {i: v for i, v in algos.items() if v is not None and err[key].get(i, 1) < 5e-2}
        best = min(valid, key=valid.get) if valid else None
        bt = valid[best] if best else None
        if c and a:
            sums[key[0]][0] += c
            sums[key[0]][1] += a
            sums[key[0]][2] += bt if bt else a
            sums[key[0]][3] += 1
        if c and at:
            tuned[key[0]][0] += c
            tuned[key[0]][1] += at
            tuned[key[0]][2] += 1
        fmt = lambda v: "-" if v is None else f"{v:.1f}"
        cells = [key[0], key[1], key[2], fmt(c), fmt(a), f"{a / c:.2f}" if a and c else "-", fmt(at),
                 f"{at / c:.2f}" if at and c else "-"]
        cells += [fmt(algos[i]) for i in impls]
        cells += [best[8:] if best else "-", f"{bt / c:.2f}" if bt and c else "-", f"{err[key].get('tilenet', float('nan')):.1e}"]
        if md:
            print("| " + " | ".join(cells) + " |")
        else:
            print(sep.join(f"{x:>12}" for x in cells))
    print()
    for dt, (c, a, b, n) in sorted(sums.items()):
        goal = 1.3 if dt == "f16" else 1.5
        partial = "" if n == 15 else f" OVER ONLY {n} OF 15 CASES (the others failed or did not run)"
        print(f"{dt}: sum over layers and passes{partial}: cuDNN {c / 1e3:.3f} ms, tilenet Auto {a / 1e3:.3f} ms "
              f"(ratio {a / c:.2f}), best tilenet per case {b / 1e3:.3f} ms (ratio {b / c:.2f}); goal <= {goal}"
              + ("" if n < 15 else (", met" if a / c <= goal else ", not met")))
    for dt, (c, at, n) in sorted(tuned.items()):
        goal = 1.3 if dt == "f16" else 1.5
        partial = "" if n == 15 else f" OVER ONLY {n} OF 15 CASES"
        print(f"{dt}: with autotuning{partial}: cuDNN {c / 1e3:.3f} ms, tilenet {at / 1e3:.3f} ms (ratio {at / c:.2f}); "
              f"goal <= {goal}" + ("" if n < 15 else (", met" if at / c <= goal else ", not met")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
