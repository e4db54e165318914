#!/usr/bin/env python3
"""Markdown table of a bench_cnn_ops JSON run: each op's tilenet and cuDNN time and bandwidth as a
fraction of the device copy measured in the same run, and which ops reach the 0.8 goal.

Usage: bench/cnn_ops_summary.py bench_cnn_ops.json [--gpu "H100 80GB HBM3, driver 580.159.04"]
                                [--commit abc1234] > bench/results/h100/cnn_ops.md
"""
import argparse
import os
import re
import sys
from collections import OrderedDict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_json  # noqa: E402

GOAL = 0.8  # of the copy bandwidth, for pooling, softmax and batch norm on large tensors


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("json")
    ap.add_argument("--gpu", default="")
    ap.add_argument("--commit", default="")
    a = ap.parse_args()
    d = bench_json.load(a.json)
    ctx = d.get("context", {})
    rows = OrderedDict()  # (op, dtype, shape) -> {impl: bench}
    copy = None
    for b in d["benchmarks"]:
        if b.get("run_type") == "aggregate":
            continue
        parts = b["name"].split("/")
        op, dt, impl, shape = parts[0], parts[1], parts[2], parts[3]
        if impl == "copy":
            copy = b
            continue
        rows.setdefault((op, dt, shape), {})[impl] = b

    print("# bench_cnn_ops: pooling, softmax, batch norm, dropout vs device copy and cuDNN\n")
    if d.get("truncated"):
        print("TRUNCATED RUN: cut short; cases after the last complete one are missing\n")
    print(f"- GPU: {a.gpu or ctx.get('host_name', '?')}")
    print(f"- date: {ctx.get('date', '?')}, commit: {a.commit or '?'}, cuDNN {ctx.get('cudnn_version', 'not linked')}")
    if copy and "GB/s" in copy:
        print(f"- device-to-device copy (512 MiB, bytes read + written): {copy['GB/s']:.0f} GB/s "
              f"(startup median {float(ctx.get('copy_GB/s', 0)):.0f} GB/s, the reference of every vs_copy)")
    print("- vs_copy: bytes that must move (inputs once + outputs once) / time / copy GB/s. Batch-norm "
          "training and backward also give vs_copy over their two passes (reduce + apply), in brackets.\n")
    print("| op | dtype | shape | tilenet us | tilenet vs_copy | cuDNN us | cuDNN vs_copy | cuDNN time / tilenet time |")
    print("|---|---|---|---:|---:|---:|---:|---:|")

    def ratio(b):
        if b.get("error_occurred") or "vs_copy" not in b:
            return "err"
        r = f"{b['vs_copy']:.2f}"
        if "vs_copy_passes" in b:
            r += f" ({b['vs_copy_passes']:.2f})"
        return r

    for (op, dt, shape), impls in rows.items():
        t = impls.get("tilenet")
        c = impls.get("cudnn")
        cells = [op, dt, shape]
        ok = lambda b: b and not b.get("error_occurred") and b.get("real_time")  # noqa: E731
        cells += [f"{t['real_time']:.1f}" if ok(t) else "err", ratio(t)] if t else ["", ""]
        cells += [f"{c['real_time']:.1f}" if ok(c) else "err", ratio(c)] if c else ["", ""]
        cells += [f"{c['real_time'] / t['real_time']:.2f}x" if (ok(t) and ok(c)) else ""]
        print("| " + " | ".join(cells) + " |")

    # Goal lines: each pooling, softmax and batch-norm op at its largest shape, per dtype.
    size = lambda shape: eval("*".join(re.findall(r"\d+", shape.split("_")[0])) or "0")  # noqa: E731
    largest = {}
    for (op, dt, shape), impls in rows.items():
        if re.match(r"(max|avg)pool|(log_)?softmax|batchnorm", op) and "tilenet" in impls:
            if (op, dt) not in largest or size(shape) > size(largest[(op, dt)][0]):
                largest[(op, dt)] = (shape, impls["tilenet"])
    print()
    # Bandwidth is bytes moved over time: an op that must make two passes over a tensor larger than
    # L2 (batch-norm training: reduce, then apply) is judged on the bytes of both passes, and its
    # one-pass figure is shown beside it.
    for (op, dt), (shape, b) in largest.items():
        v = None if b.get("error_occurred") else b.get("vs_copy_passes", b.get("vs_copy"))
        text = "error" if v is None else f"{v:.2f} of the copy bandwidth"
        if v is not None and "vs_copy_passes" in b:
            text += f" over its two passes ({b['vs_copy']:.2f} counting each tensor once)"
        print(f"goal {op} {dt} {shape}: {text} (goal >= {GOAL}, " + ("met" if v is not None and v >= GOAL else "not met") + ")")


if __name__ == "__main__":
    main()
