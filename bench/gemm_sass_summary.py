#!/usr/bin/env python3
"""Instruction mix of the GEMM kernels in a binary: `cuobjdump -sass` per kernel, counting the
classes the kernel notes cite (FFMA, LDS.128 and other shared loads, HMMA, HGMMA, LDSM, UTMALDG,
LDGSTS, and local-memory traffic LDL/STL, which should be zero).
Usage: gemm_sass_summary.py BINARY [--filter gemm]"""
import collections
import re
import subprocess
import sys


def main():
    binary = sys.argv[1]
    filt = sys.argv[sys.argv.index("--filter") + 1] if "--filter" in sys.argv else "gemm"
    sass = subprocess.run(["cuobjdump", "-sass", binary], capture_output=True, text=True, check=True).stdout
    kernels = collections.OrderedDict()
    name = None
    for line in sass.splitlines():
        m = re.match(r"\s*Function : (\S+)", line)
        if m:
            name = m.group(1)
            kernels[name] = collections.Counter()
            continue
        if name is None:
            continue
        m = re.match(r"\s*/\*[0-9a-f]+\*/\s+(@!?U?P\w+\s+)?([A-Z0-9_.]+)", line)
        if m:
            op = m.group(2)
            c = kernels[name]
            c["total"] += 1
            base = op.split(".")[0]
            if op.startswith("LDS"):
                c["LDS.128" if ".128" in op else "LDS(other)"] += 1
            elif base in ("FFMA", "HMMA", "HGMMA", "LDSM", "UTMALDG", "LDGSTS", "LDL", "STL", "LDG", "STG", "BAR", "STS"):
                c[base] += 1
    cols = ["total", "FFMA", "LDS.128", "LDS(other)", "STS", "LDG", "LDGSTS", "UTMALDG", "LDSM", "HMMA", "HGMMA", "STG",
            "LDL", "STL"]
    print("| kernel | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    for k, c in kernels.items():
        if filt not in k:
            continue
        short = re.sub(r"_ZN7tilenet7kernels\w*?_GLOBAL__N__\w+?_\d+", "", k)[:90]
        print("| " + short + " | " + " | ".join(str(c.get(x, 0)) for x in cols) + " |")


if __name__ == "__main__":
    main()
