#!/usr/bin/env python3
"""Markdown table of a bench_cnn_ops JSON run: each op's tilenet and cuDNN time and bandwidth as a
fraction of the device copy measured in the same run, and which ops reach the 0.8 goal.

Usage: bench/cnn_ops_summary.py bench_cnn_ops.json [--gpu "H100 80GB HBM3, driver 580.159.04"]
                                [--commit abc1234] > bench/results/h100/cnn_ops.md
"""
import argparse
import json
from collections import OrderedDict


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("json")
    ap.add_argument("--gpu", default="")
    ap.add_argument("--commit", default="")
    a = ap.parse_args()
    d = json.load(open(a.json))
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
    print(f"- GPU: {a.gpu or ctx.get('host_name', '?')}")
    print(f"- date: {ctx.get('date', '?')}, commit: {a.commit or '?'}, cuDNN {ctx.get('cudnn_version', 'not linked')}")
    if copy:
        print(f"- device-to-device copy (512 MiB, bytes read + written): {copy['GB/s']:.0f} GB/s "
              f"(startup median {float(ctx.get('copy_GB/s', 0)):.0f} GB/s, the reference of every vs_copy)")
    print("- vs_copy: bytes that must move (inputs once + outputs once) / time / copy GB/s. Batch-norm "
          "training and backward also give vs_copy over their two passes (reduce + apply), in brackets.\n")
    print("| op | dtype | shape | tilenet us | tilenet vs_copy | cuDNN us | cuDNN vs_copy | cuDNN time / tilenet time |")
    print("|---|---|---|---:|---:|---:|---:|---:|")

    def ratio(b):
        r = f"{b.get('vs_copy', 0):.2f}"
        if "vs_copy_passes" in b:
            r += f" ({b['vs_copy_passes']:.2f})"
        return r

    for (op, dt, shape), impls in rows.items():
        t = impls.get("tilenet")
        c = impls.get("cudnn")
        cells = [op, dt, shape]
        cells += [f"{t['real_time']:.1f}", ratio(t)] if t else ["", ""]
        cells += [f"{c['real_time']:.1f}", ratio(c)] if c else ["", ""]
        cells += [f"{c['real_time'] / t['real_time']:.2f}x" if (t and c) else ""]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
