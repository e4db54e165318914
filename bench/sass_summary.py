#!/usr/bin/env python3
"""Resources and instruction mix of the kernels in a binary, read from the machine code itself.

For every kernel whose mangled name matches one of the filters (Python regular expressions): registers, stack frame and
local memory (`cuobjdump -res-usage`), and instruction counts from `cuobjdump -sass` for the
classes the kernels' header comments cite: FFMA, LDS.128 and other shared loads, STS, LDG, STG,
LDGSTS (cp.async), UTMALDG (TMA), LDSM (ldmatrix), HMMA (mma.sync/WMMA), HGMMA (wgmma), BAR, and
local-memory traffic LDL/STL (register spills: should be zero). Prints one Markdown table per
filter. cuobjdump is looked up on PATH, then in $CUDA_HOME/bin and /usr/local/cuda/bin.

Usage: sass_summary.py BINARY [--filter REGEX]...   (default: the GEMM kernels; e.g. --filter conv)
       sass_summary.py --parse SASS_TEXT RES_USAGE_TEXT [--filter ...]   (saved cuobjdump output)
"""
import collections
import os
import re
import shutil
import subprocess
import sys

COLS = ["REG", "STACK", "total", "FFMA", "LDS.128", "LDS(other)", "STS", "LDG", "STG", "LDGSTS", "UTMALDG",
        "LDSM", "HMMA", "HGMMA", "BAR", "LDL", "STL"]
# The GEMM kernels' mangled names: "<length>gemm_<algo>_kernel" (the conv kernels are "...igemm_...").
GEMM_KERNELS = r"\dgemm_\w+_kernel"
COUNTED = {"FFMA", "HMMA", "HGMMA", "LDSM", "UTMALDG", "LDGSTS", "LDL", "STL", "LDG", "STG", "BAR", "STS"}


def cuobjdump():
    found = shutil.which("cuobjdump")
    for home in (os.environ.get("CUDA_HOME"), "/usr/local/cuda"):
        if not found and home and os.path.exists(os.path.join(home, "bin", "cuobjdump")):
            found = os.path.join(home, "bin", "cuobjdump")
    if not found:
        sys.exit("sass_summary.py: cuobjdump not found (PATH, $CUDA_HOME/bin, /usr/local/cuda/bin)")
    return found


def parse_sass(text):
    """Instruction classes per kernel from `cuobjdump -sass` text."""
    kernels = collections.OrderedDict()
    name = None
    for line in text.splitlines():
        m = re.match(r"\s*Function : (\S+)", line)
        if m:
            name = m.group(1)
            kernels.setdefault(name, collections.Counter())
            continue
        if name is None:
            continue
        # "/*0040*/   @!P0 LDG.E.128 R4, desc[UR4][R2.64] ;" : optional predicate, then the opcode.
        m = re.match(r"\s*/\*[0-9a-f]+\*/\s+(?:@!?U?P[T0-9]+\s+)?([A-Z][A-Z0-9_.]*)", line)
        if not m:
            continue
        op = m.group(1)
        c = kernels[name]
        c["total"] += 1
        base = op.split(".")[0]
        if base == "LDS":
            c["LDS.128" if ".128" in op else "LDS(other)"] += 1
        elif base in COUNTED:
            c[base] += 1
    return kernels


def parse_res_usage(text):
    """REG and STACK per kernel from `cuobjdump -res-usage` text ("Function NAME:" then "REG:n STACK:n ...")."""
    res = {}
    name = None
    for line in text.splitlines():
        m = re.match(r"\s*Function (\S+?):?\s*$", line)
        if m:
            name = m.group(1)
            continue
        if name and "REG:" in line:
            fields = dict(re.findall(r"([A-Z]+(?:\[\d+\])?):(\d+)", line))
            res[name] = {"REG": int(fields.get("REG", 0)), "STACK": int(fields.get("STACK", 0))}
            name = None
    return res


def demangle(names):
    """Readable names through c++filt where the machine has it, else the mangled ones."""
    tool = shutil.which("c++filt")
    if not tool or not names:
        return {n: n for n in names}
    out = subprocess.run([tool], input="\n".join(names), capture_output=True, text=True).stdout.splitlines()
    return dict(zip(names, out)) if len(out) == len(names) else {n: n for n in names}


def short_name(readable):
    s = readable.replace("tilenet::kernels::", "").replace("(anonymous namespace)::", "")
    if s.endswith(")"):  # drop the parameter list: the last top-level parenthesised group
        depth = 0
        for i in range(len(s) - 1, -1, -1):
            depth += {")": 1, "(": -1}.get(s[i], 0)
            if depth == 0:
                s = s[:i]
                break
    s = re.sub(r"^void ", "", s)
    return re.sub(r"\s+", " ", s)[:160]


def table(kernels, res, names, filt):
    lines = ["| kernel | " + " | ".join(COLS) + " |", "|---" * (len(COLS) + 1) + "|"]
    for k, c in kernels.items():
        if not re.search(filt, k):
            continue
        row = dict(c)
        row.update(res.get(k, {"REG": "?", "STACK": "?"}))
        lines.append("| `" + short_name(names[k]) + "` | " + " | ".join(str(row.get(x, 0)) for x in COLS) + " |")
    return "\n".join(lines)


def main(argv):
    if argv and argv[-1] == "--filter":
        sys.exit("sass_summary.py: --filter needs a regular expression\n" + __doc__)
    filters = [argv[i + 1] for i, a in enumerate(argv) if a == "--filter"] or [GEMM_KERNELS]
    if argv and argv[0] == "--parse":
        sass, res_text = open(argv[1]).read(), open(argv[2]).read()
    elif argv and not argv[0].startswith("--"):
        tool = cuobjdump()
        sass = subprocess.run([tool, "-sass", argv[0]], capture_output=True, text=True, check=True).stdout
        res_text = subprocess.run([tool, "-res-usage", argv[0]], capture_output=True, text=True, check=True).stdout
    else:
        sys.exit(__doc__)
    kernels, res = parse_sass(sass), parse_res_usage(res_text)
    names = demangle(list(kernels))
    for filt in filters:
        print(f"### kernels matching `{filt}`\n")
        print(table(kernels, res, names, filt))
        print()
    spills = [short_name(names[k]) for k, c in kernels.items() if c["LDL"] or c["STL"]]
    print("Kernels with local-memory traffic (LDL/STL): " + (", ".join(spills) if spills else "none"))


if __name__ == "__main__":
    main(sys.argv[1:])
