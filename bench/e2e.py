#!/usr/bin/env python3
"""End-to-end comparison of tilenet's sample trainers with PyTorch, both sides in one call on one GPU.

Runs, each in its own process with its own time limit:
  MNIST MLP and CNN, 12 epochs on the MNIST-format set in --data (train_mnist vs pytorch_mnist.py):
    epoch time (mean of the epochs after the first; an epoch = training pass + test evaluation,
    as Keras's fit(validation_data=...)) and the final test accuracy;
  AlexNet, synthetic ImageNet-shaped batches of 128 (train_alexnet --synthetic vs pytorch_alexnet.py),
    fp32 and mixed precision: median step time and peak GPU memory.
Writes OUT/<gpu>/e2e.json ({"gpu", "date", "commit", "results": [{"name", "tilenet", "pytorch",
"unit", ...}]}), OUT/<gpu>/e2e.md (a table) and OUT/<gpu>/e2e-logs/*.log. A side that fails or
runs out of time records null and its error; everything else still runs. Needs only Python's
standard library (PyTorch is needed by the PyTorch side only).

Usage (on the GPU machine, with the kit packed by scripts/gpu_kit_pack.sh --data .../fashion-mnist):
  .gpu/run.sh --only e2e                      (runs this script with the kit's paths), or
  python3 .gpu/bench/e2e.py --bin .gpu/bin --data .gpu/data/fashion-mnist --out "$OUT" --budget-s 480
(the kit's payload is unpacked first when .gpu/bin is not there yet).
"""
import argparse
import datetime
import json
import os
import re
import shlex
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def sh(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except Exception:
        return ""


def gpu_info():
    line = sh(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"]).splitlines()
    if not line:
        return "unknown-gpu", ""
    name, _, driver = line[0].partition(",")
    return name.strip(), driver.strip()


def gpu_slug(name):
    """"NVIDIA H100 80GB HBM3" -> "h100" (the folder bench/results/ uses), else the whole name."""
    s = re.sub(r"^nvidia\s+", "", name.strip().lower())
    m = re.match(r"([a-z]{1,2}\d{2,4})\b", s)
    if m:
        return m.group(1)
    return re.sub(r"[^a-z0-9]+", "-", s).strip("-") or "unknown-gpu"


def unpack_kit(bin_dir):
    """The GPU kit (scripts/gpu_kit_pack.sh) ships bin/ and lib/ inside payload.tar.xz next to
    them: unpack it when bin/ is not there yet (run.sh does the same)."""
    kit = os.path.dirname(os.path.abspath(bin_dir))
    payload = os.path.join(kit, "payload.tar.xz")
    if os.path.isdir(bin_dir) or not os.path.isfile(payload):
        return
    import tarfile
    print(f"[e2e] unpacking {payload}", file=sys.stderr, flush=True)
    with tarfile.open(payload, "r:xz") as t:
        t.extractall(kit)


def parse_kv(line):
    """`a=1 b=0.5 c=x` -> {"a": 1.0, "b": 0.5, "c": "x"}."""
    out = {}
    for tok in line.split():
        k, sep, v = tok.partition("=")
        if not sep:
            continue
        try:
            out[k] = float(v)
        except ValueError:
            out[k] = v
    return out


def last_line(text):
    lines = [l for l in text.splitlines() if l.strip()]
    return lines[-1].strip() if lines else ""


class Runner:
    def __init__(self, budget_s, job_cap_s, log_dir):
        self.deadline = time.monotonic() + budget_s
        self.job_cap_s = job_cap_s
        self.log_dir = log_dir

    def remaining(self):
        return self.deadline - time.monotonic()

    def run(self, name, cmd, parse, jobs_after, env):
        """Runs cmd, returns (parsed dict or None, error or None, seconds). Leaves ~25 s for each later
        job when it can, and never less than an equal share of what is left."""
        left = self.remaining()
        limit = max(min(self.job_cap_s, left - 25 * jobs_after), left / (jobs_after + 1))
        log = os.path.join(self.log_dir, name + ".log")
        if limit < 5:
            return None, "skipped: time budget exhausted", 0.0
        t0 = time.monotonic()
        print(f"[e2e] {name}: {shlex.join(cmd)} (limit {limit:.0f}s)", file=sys.stderr, flush=True)
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=limit, env=env)
            out, err, rc = p.stdout, p.stderr, p.returncode
        except subprocess.TimeoutExpired as e:
            out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
            err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
            rc = None
        except OSError as e:
            out, err, rc = "", str(e), -1
        dt = time.monotonic() - t0
        with open(log, "w") as f:
            f.write(f"$ {shlex.join(cmd)}\n# rc={rc} seconds={dt:.1f}\n--- stdout\n{out}\n--- stderr\n{err}\n")
        if rc is None:
            return None, f"timed out after {limit:.0f}s", dt
        if rc != 0:
            tail = last_line(err) or last_line(out)
            return None, f"exit {rc}: {tail[:300]}", dt
        try:
            return parse(out), None, dt
        except Exception as e:  # noqa: BLE001 - any parse failure is recorded, not raised
            return None, f"could not parse output ({e}): {last_line(out)[:300]}", dt


def parse_json_last(out):
    return json.loads(last_line(out))


def parse_tilenet_last(out):
    """The trainers' last line, plus their "memory: ..." line (samples::print_memory_line)."""
    kv = parse_kv(last_line(out))
    if not kv:
        raise ValueError("no key=value pairs on the last line")
    for line in out.splitlines():
        if line.startswith("memory: "):
            kv.update({k: v for k, v in parse_kv(line).items() if k not in kv})
    return kv


def parse_tilenet_mnist(history_path):
    """train_mnist's last line, with epoch_time_s recomputed at full precision from the history it
    wrote (the last line rounds it to 1 ms: about 1.5% of a CUDA-graph MLP epoch)."""
    def parse(out):
        kv = parse_tilenet_last(out)
        times = json.load(open(history_path)).get("epoch_time_s") or []
        steady = times[1:] if len(times) > 1 else times  # as train_mnist: the first epoch is warm-up
        if steady and all(isinstance(x, (int, float)) for x in steady):
            kv["epoch_time_s"] = sum(steady) / len(steady)
            kv["epoch_times_s"] = times
        return kv
    return parse


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="folder with train_mnist and train_alexnet")
    ap.add_argument("--data", required=True, help="MNIST-format IDX folder (Fashion-MNIST on the GPU kit)")
    ap.add_argument("--out", default=os.path.join(HERE, "results"), help="results root (default bench/results)")
    ap.add_argument("--gpu", default="", help="results folder name (default: from nvidia-smi, e.g. h100)")
    ap.add_argument("--commit", default="", help="default: BIN/../COMMIT, else git rev-parse")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--alexnet-steps", type=int, default=30)
    ap.add_argument("--budget-s", type=float, default=480, help="total wall-clock budget")
    ap.add_argument("--job-cap-s", type=float, default=150, help="most seconds one run may take")
    ap.add_argument("--only", default="", help="comma-separated subset of: mlp,cnn,alexnet")
    args = ap.parse_args()
    unpack_kit(args.bin)

    gpu_name, driver = gpu_info()
    slug = args.gpu or gpu_slug(gpu_name)
    out_dir = os.path.join(args.out, slug)
    log_dir = os.path.join(out_dir, "e2e-logs")
    os.makedirs(log_dir, exist_ok=True)
    commit = args.commit
    if not commit:
        cf = os.path.join(args.bin, "..", "COMMIT")
        if os.path.isfile(cf):
            commit = " ".join(open(cf).read().split())
        else:
            commit = sh(["git", "-C", HERE, "rev-parse", "--short", "HEAD"]) or "unknown"

    # tilenet's side gets the kit's libraries; PyTorch's keeps the environment it was started in
    # (run.sh saves it in TILENET_KIT_ORIG_LD_LIBRARY_PATH), so it loads its own CUDA libraries.
    base = dict(os.environ)
    if "TILENET_KIT_ORIG_LD_LIBRARY_PATH" in base:
        base["LD_LIBRARY_PATH"] = base.pop("TILENET_KIT_ORIG_LD_LIBRARY_PATH")
        if not base["LD_LIBRARY_PATH"]:
            del base["LD_LIBRARY_PATH"]
    env_tilenet = dict(base)
    libs = [os.path.abspath(os.path.join(args.bin, "..", "lib")), "/usr/local/cuda/lib64"]
    env_tilenet["LD_LIBRARY_PATH"] = ":".join(libs + [base.get("LD_LIBRARY_PATH", "")]).rstrip(":")
    envs = {"tilenet": env_tilenet, "pytorch": base}
    runner = Runner(args.budget_s, args.job_cap_s, log_dir)
    only = set(filter(None, args.only.split(","))) or {"mlp", "cnn", "alexnet"}

    tl = lambda exe: os.path.join(args.bin, exe)  # noqa: E731
    py = lambda script: [args.python, os.path.join(HERE, script)]  # noqa: E731
    jobs = []  # (key, side, cmd, parser)
    if "alexnet" in only:
        for prec in ("fp32", "mixed"):
            jobs.append(("alexnet_" + prec, "tilenet",
                         [tl("train_alexnet"), "--synthetic", "--size", "227", "--device", "cuda", "--precision",
                          prec, "--steps", str(args.alexnet_steps), "--verbose", "2"], parse_tilenet_last))
            jobs.append(("alexnet_" + prec, "pytorch",
                         [*py("pytorch_alexnet.py"), "--precision", prec, "--steps", str(args.alexnet_steps)],
                         parse_json_last))

    for model in ("mlp", "cnn"):
        if model in only:
            common = ["--data", args.data, "--model", model, "--epochs", str(args.epochs)]
            hist = os.path.join(log_dir, f"{model}_tilenet_history.json")
            jobs.append((model, "tilenet", [tl("train_mnist"), *common, "--device", "cuda", "--verbose", "2",
                                            "--history", hist], parse_tilenet_mnist(hist)))
            jobs.append((model, "pytorch", [*py("pytorch_mnist.py"), *common], parse_json_last))
    # Every job has a row from the start: a run cut short by an outer time limit still lists what it
    # never reached.
    raw = {(key, side): (None, "not run", 0.0) for key, side, _, _ in jobs}
    doc = None
    for i, (key, side, cmd, parse) in enumerate(jobs):
        res, err, dt = runner.run(f"{key}_{side}", cmd, parse, len(jobs) - i - 1, envs[side])
        raw[(key, side)] = (res, err, dt)
        status = "ok" if err is None else err
        print(f"[e2e] {key}/{side}: {status} ({dt:.1f}s)", file=sys.stderr, flush=True)
        # Written after every job: a caller's time limit that cuts the run short keeps what was measured.
        doc = write_outputs(raw, args, gpu_name, driver, commit, out_dir)
    if doc is None:
        doc = write_outputs(raw, args, gpu_name, driver, commit, out_dir)
    print(json.dumps(doc))
    return 0 if all(err is None for (_, err, _) in raw.values()) else 1


def write_outputs(raw, args, gpu_name, driver, commit, out_dir):
    """e2e.json and e2e.md from the runs so far; returns the JSON document."""

    def pick(key, side, field):
        if "|" in field:  # "tilenet's field|PyTorch's field"
            field = field.split("|")[0 if side == "tilenet" else 1]
        res, err, _ = raw.get((key, side), (None, "not run", 0))
        if res is None:
            return None, err
        val = res.get(field)
        if side == "pytorch" and key.startswith("alexnet_"):
            val = (res.get(key.split("_", 1)[1]) or {}).get(field)
        if isinstance(val, (int, float)):
            return float(val), None
        return None, f"no {field} in the output"

    metrics = [  # name, key, field, unit, goal text, goal test(tilenet, pytorch)
        ("mnist_mlp_epoch_s", "mlp", "epoch_time_s", "s", ">= 5x faster", lambda t, p: p / t >= 5),
        ("mnist_cnn_epoch_s", "cnn", "epoch_time_s", "s", ">= 3x faster", lambda t, p: p / t >= 3),
        ("alexnet_step_fp32_ms", "alexnet_fp32", "step_ms", "ms", "<= 1.5x PyTorch", lambda t, p: t <= 1.5 * p),
        ("alexnet_step_mixed_ms", "alexnet_mixed", "step_ms", "ms", "<= 1.2x PyTorch", lambda t, p: t <= 1.2 * p),
        ("alexnet_peak_mem_mb", "alexnet_fp32", "peak_mem_mb", "MiB", "<= PyTorch", lambda t, p: t <= p),
        ("alexnet_peak_mem_mixed_mb", "alexnet_mixed", "peak_mem_mb", "MiB", "<= PyTorch", lambda t, p: t <= p),
        # The same comparison in other units: tilenet's peak requested bytes against PyTorch's
        # allocated tensors (both live buffers as asked for), and everything held from the driver.
        ("alexnet_peak_requested_mb", "alexnet_fp32", "peak_requested_mb|peak_mem_mb", "MiB", "", None),
        ("alexnet_peak_reserved_mb", "alexnet_fp32", "peak_reserved_mb", "MiB", "", None),
        ("alexnet_peak_reserved_mixed_mb", "alexnet_mixed", "peak_reserved_mb", "MiB", "", None),
        ("alexnet_images_per_s_fp32", "alexnet_fp32", "images_per_s", "img/s", "", None),
        ("alexnet_images_per_s_mixed", "alexnet_mixed", "images_per_s", "img/s", "", None),
        ("fashion_mlp_test_accuracy", "mlp", "test_accuracy", "", ">= 0.89", lambda t, p: t >= 0.89),
        ("fashion_cnn_test_accuracy", "cnn", "test_accuracy", "", ">= 0.92", lambda t, p: t >= 0.92),
        ("mnist_mlp_peak_mem_mb", "mlp", "peak_mem_mb", "MiB", "", None),
        ("mnist_cnn_peak_mem_mb", "cnn", "peak_mem_mb", "MiB", "", None),
    ]
    results = []
    for name, key, field, unit, goal, test in metrics:
        if (key, "tilenet") not in raw and (key, "pytorch") not in raw:
            continue
        t, terr = pick(key, "tilenet", field)
        p, perr = pick(key, "pytorch", field)
        row = {"name": name, "tilenet": t, "pytorch": p, "unit": unit}
        if terr:
            row["tilenet_error"] = terr
        if perr:
            row["pytorch_error"] = perr
        if goal:
            row["goal"] = goal
            try:  # a goal that needs a missing figure is undecided
                row["goal_met"] = bool(test(t, p))
            except TypeError:
                row["goal_met"] = None
        results.append(row)

    doc = {
        "gpu": gpu_name, "driver": driver,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": commit, "epochs": args.epochs, "data": os.path.abspath(args.data),
        "alexnet_steps": args.alexnet_steps, "results": results,
        "runs": {f"{k}/{s}": {"seconds": round(dt, 1), "error": err} for (k, s), (_, err, dt) in raw.items()},
    }
    for (_, side), (res, _, _) in raw.items():  # the versions the PyTorch side reported
        if side == "pytorch" and res and "pytorch" not in doc:
            doc["pytorch"] = {f: res[f] for f in ("torch", "cudnn", "device") if res.get(f)}
    for name, text in (("e2e.json", json.dumps(doc, indent=1) + "\n"), ("e2e.md", render_table(doc))):
        tmp = os.path.join(out_dir, name + ".tmp")
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, os.path.join(out_dir, name))
    return doc


def fmt(v):
    if v is None:
        return "n/a"
    if abs(v) >= 100:
        return f"{v:.0f}"
    return f"{v:.4f}" if v < 1 else f"{v:.3f}"


def advantage(unit, t, p):
    """How many times better tilenet is (> 1: better): PyTorch / tilenet for times and memory,
    tilenet / PyTorch for rates; accuracies get none (their goal is absolute)."""
    if unit == "":
        return ""
    if not t or not p:
        return "n/a"
    return f"{(t / p if unit.endswith('/s') else p / t):.2f}x"


def render_table(doc):
    lines = [
        f"# End-to-end: tilenet vs PyTorch ({doc['gpu']})", "",
        f"GPU {doc['gpu']}, driver {doc['driver']}, {doc['date']}, commit {doc['commit']}"
        + (f", PyTorch {doc['pytorch'].get('torch')} (cuDNN {doc['pytorch'].get('cudnn')})" if doc.get("pytorch") else "")
        + ".", "",
        f"MNIST rows: {doc['epochs']} epochs on the IDX set in `{os.path.basename(doc['data'].rstrip('/'))}`, batch 128; "
        "an epoch is a training pass plus a test-set evaluation (mean of the epochs after the first); both "
        "sides decay the learning rate to 0 by a per-batch cosine schedule. "
        "AlexNet rows: synthetic batches of 128 images, 1000 classes, SGD momentum, median step after warm-up; "
        "PyTorch at 224x224 (conv1 padded by 2), tilenet at 227x227 with conv1 unpadded: the same layer shapes "
        "and FLOPs from conv1 on. fp32 with TF32 off on both sides. "
        "Memory: `peak_mem` is tilenet's peak of blocks held by live buffers (a block may be up to twice "
        "its request) against PyTorch's `max_memory_allocated`; `peak_requested` puts the bytes tilenet's "
        "buffers asked for against the same; `peak_reserved` is all memory held from the driver, cache "
        "included, on both sides (`max_memory_reserved`). PyTorch's memory figures cover the timed steps, "
        "after cudnn.benchmark's algorithm search (tilenet has no search); tilenet's cover the whole run. "
        "`tilenet advantage`: PyTorch / tilenet for times and memory, tilenet / PyTorch for images/s "
        "(above 1: tilenet better). Produced by `bench/e2e.py`.", "",
        "| metric | tilenet | PyTorch | tilenet advantage | unit | goal | met |",
        "|---|---:|---:|---:|---|---|---|",
    ]
    for r in doc["results"]:
        t, p = r["tilenet"], r["pytorch"]
        ratio = advantage(r["unit"], t, p)
        met = {True: "yes", False: "no", None: "n/a"}[r.get("goal_met")] if "goal" in r else ""
        lines.append(f"| {r['name']} | {fmt(t)} | {fmt(p)} | {ratio} | {r['unit']} | {r.get('goal', '')} | {met} |")
    errs = [f"- {run}: {info['error']}" for run, info in doc["runs"].items() if info["error"]]
    if errs:
        lines += ["", "Runs that gave no figure:", *errs]
    return "\n".join(lines) + "\n"


def self_test():
    """Runs main() on stand-ins for the four programs (no GPU, no PyTorch) and checks e2e.json:
    the parsing of both sides' outputs, the history-based epoch time, each goal's verdict, a side
    that fails (recorded, its goal undecided, exit status 1) and the table."""
    import tempfile
    import textwrap
    tmp = tempfile.mkdtemp(prefix="e2e-self-test-")
    bin_dir = os.path.join(tmp, "bin")
    os.makedirs(bin_dir)

    def program(name, body):
        path = os.path.join(bin_dir, name)
        with open(path, "w") as f:
            f.write(f"#!{sys.executable}\nimport json, os, sys\nargs = sys.argv[1:]\n" + textwrap.dedent(body))
        os.chmod(path, 0o755)
        return path

    program("train_mnist", """
        assert args[args.index("--device") + 1] == "cuda", "the GPU side must not fall back to the CPU"
        hist = args[args.index("--history") + 1]
        json.dump({"epoch_time_s": [0.5, 0.1, 0.3]}, open(hist, "w"))
        print("Epoch 3/3 ...")
        print("memory: peak_in_use_mb=10 peak_requested_mb=8 peak_reserved_mb=20")
        print("test_accuracy=0.9000 test_loss=0.3000 epoch_time_s=0.200 peak_mem_mb=10")
    """)
    program("train_alexnet", """
        assert args[args.index("--device") + 1] == "cuda", "the GPU side must not fall back to the CPU"
        ms = 128.0 if args[args.index("--precision") + 1] == "fp32" else 130.0
        print("memory: peak_in_use_mb=3000 peak_requested_mb=2900 peak_reserved_mb=3100")
        print(f"images_per_s={128000 / ms:.1f} step_ms={ms} peak_mem_mb=3000")
    """)
    # Stands in for `python3 pytorch_*.py ...`: argv[1] is the script.
    fake_python = program("python", """
        script, rest = os.path.basename(args[0]), args[1:]
        if script == "pytorch_mnist.py":
            if rest[rest.index("--model") + 1] == "cnn":
                sys.exit("pytorch_mnist: no CUDA device")
            print(json.dumps({"epoch_time_s": 1.0, "test_accuracy": 0.95, "peak_mem_mb": 50.0, "torch": "0.0"}))
        else:
            prec = rest[rest.index("--precision") + 1]
            print(json.dumps({"torch": "0.0", "cudnn": 1, prec: {"step_ms": 100.0, "images_per_s": 1280.0,
                              "peak_mem_mb": 3500.0, "peak_reserved_mb": 4000.0}}))
    """)
    try:
        return check_self_test_run(tmp, bin_dir, fake_python)
    finally:
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)


def check_self_test_run(tmp, bin_dir, fake_python):
    out = os.path.join(tmp, "results")
    saved = sys.argv
    sys.argv = ["e2e.py", "--bin", bin_dir, "--data", tmp, "--out", out, "--gpu", "fake", "--commit", "abc",
                "--python", fake_python, "--epochs", "3", "--budget-s", "120", "--job-cap-s", "30"]
    try:
        rc = main()
    finally:
        sys.argv = saved
    doc = json.load(open(os.path.join(out, "fake", "e2e.json")))
    rows = {r["name"]: r for r in doc["results"]}
    assert rc == 1, f"a failed side must make the exit status 1, got {rc}"
    assert doc["commit"] == "abc" and doc["epochs"] == 3, doc
    mlp = rows["mnist_mlp_epoch_s"]
    assert abs(mlp["tilenet"] - 0.2) < 1e-12 and mlp["pytorch"] == 1.0 and mlp["goal_met"] is True, mlp
    cnn = rows["mnist_cnn_epoch_s"]
    assert cnn["pytorch"] is None and "exit 1" in cnn["pytorch_error"] and cnn["goal_met"] is None, cnn
    assert rows["alexnet_step_fp32_ms"]["goal_met"] is True, rows["alexnet_step_fp32_ms"]     # 128 <= 1.5 x 100
    assert rows["alexnet_step_mixed_ms"]["goal_met"] is False, rows["alexnet_step_mixed_ms"]  # 130 > 1.2 x 100
    assert rows["alexnet_peak_mem_mb"]["goal_met"] is True, rows["alexnet_peak_mem_mb"]       # 3000 <= 3500
    assert rows["alexnet_peak_requested_mb"]["tilenet"] == 2900.0, rows["alexnet_peak_requested_mb"]
    assert rows["fashion_mlp_test_accuracy"]["goal_met"] is True, rows["fashion_mlp_test_accuracy"]
    assert rows["fashion_cnn_test_accuracy"]["goal_met"] is False, rows["fashion_cnn_test_accuracy"]  # 0.90 < 0.92
    table = open(os.path.join(out, "fake", "e2e.md")).read()
    assert "| mnist_mlp_epoch_s | 0.2000 | 1.000 | 5.00x | s | >= 5x faster | yes |" in table, table
    assert "cnn/pytorch: exit 1" in table, table
    print("e2e self-test passed")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--self-test"]:
        sys.exit(self_test())
    sys.exit(main())
