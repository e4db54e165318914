#!/usr/bin/env python3
"""Checks that tilenet's safetensors checkpoints interoperate with PyTorch, both directions.

1. tilenet -> PyTorch: train_mnist trains briefly, saves a checkpoint (--save) and writes its
   outputs on a few test images (--dump-logits). The checkpoint is loaded into the equivalent
   PyTorch model (Dense kernel [in, out] -> Linear weight [out, in]; Conv2D kernel KRSC (or Keras
   RSCK) -> Conv2d weight [K, C, R, S]; NHWC flatten order kept) and its outputs on the same images
   must match tilenet's.
2. PyTorch -> tilenet: a freshly initialised PyTorch model is written with the `safetensors`
   package under tilenet's tensor names and layouts; train_mnist --load FILE --epochs 0 must
   reproduce PyTorch's outputs on the same images.

Without torch (a machine with no PyTorch) the MLP is evaluated in pure Python and files are
read and written with the standard library, so the layout logic can be checked anywhere.
Prints one JSON line; exit status 0 when every comparison passes.

  python3 bench/check_checkpoint.py --bin build/ci/samples --data /usr/share/datasets/fashion-mnist
"""
import argparse
import json
import math
import os
import random
import struct
import subprocess
import sys
import tempfile

try:
    import torch
    import torch.nn as tnn
except ImportError:  # pure-Python fallback (MLP only)
    torch = None


# --- safetensors with the standard library (F32 only) ------------------------------------------
def read_safetensors(path):
    """Returns {name: (shape, [floats])} in file (data offset) order."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    base = 8 + n
    out = {}
    items = [(k, v) for k, v in header.items() if k != "__metadata__"]
    for name, info in sorted(items, key=lambda kv: kv[1]["data_offsets"][0]):
        if info["dtype"] != "F32":
            raise ValueError(f"{path}: {name} is {info['dtype']}, this checker handles F32")
        b, e = info["data_offsets"]
        count = math.prod(info["shape"])
        if e - b != 4 * count:
            raise ValueError(f"{path}: {name} holds {e - b} bytes for shape {info['shape']}")
        out[name] = (list(info["shape"]), list(struct.unpack(f"<{count}f", blob[base + b:base + e])))
    return out


def write_safetensors(path, tensors):
    """tensors: {name: (shape, [floats])} written in the given order."""
    header, off, chunks = {}, 0, []
    for name, (shape, vals) in tensors.items():
        data = struct.pack(f"<{len(vals)}f", *vals)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + len(data)]}
        off += len(data)
        chunks.append(data)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(chunks))


# --- layouts ------------------------------------------------------------------------------------
def layer_groups(tensors):
    """Groups tensor names by layer ("dense_1/kernel" -> "dense_1"), in file order, keeping layers
    that hold a kernel (a tensor of rank >= 2): [(kernel_name, bias_name or None)]."""
    groups = {}
    for name, (shape, _) in tensors.items():
        prefix = name.rsplit("/", 1)[0] if "/" in name else name.rsplit(".", 1)[0]
        groups.setdefault(prefix, []).append((name, shape))
    out = []
    for prefix, members in groups.items():
        kernels = [n for n, s in members if len(s) >= 2]
        biases = [n for n, s in members if len(s) == 1 and ("bias" in n.rsplit("/", 1)[-1] or len(members) == 2)]
        if len(kernels) == 1:
            out.append((kernels[0], biases[0] if biases else None))
    return out


def permute(vals, shape, order):
    """Row-major permutation of a flat list: result[i...] = vals[i permuted by order]."""
    new_shape = [shape[o] for o in order]
    strides = [1] * len(shape)
    for i in range(len(shape) - 2, -1, -1):
        strides[i] = strides[i + 1] * shape[i + 1]
    out = []
    def rec(dim, base):
        if dim == len(order):
            out.append(vals[base])
            return
        for i in range(new_shape[dim]):
            rec(dim + 1, base + i * strides[order[dim]])
    rec(0, 0)
    return new_shape, out


def to_torch_layout(shape, vals, torch_shape):
    """tilenet kernel -> torch weight layout. Dense [in,out] -> [out,in]; conv KRSC or RSCK -> KCRS."""
    if len(shape) == 2:
        return permute(vals, shape, [1, 0])
    if len(shape) == 4:
        k, c, r, s = torch_shape
        if shape == [k, r, s, c]:
            return permute(vals, shape, [0, 3, 1, 2])
        if shape == [r, s, c, k]:
            return permute(vals, shape, [3, 2, 0, 1])
    raise ValueError(f"kernel shape {shape} does not fit torch weight {torch_shape}")


def from_torch_layout(tshape, vals, tilenet_shape):
    if len(tshape) == 2:
        return permute(vals, tshape, [1, 0])
    k, c, r, s = tshape
    if tilenet_shape == [k, r, s, c]:
        return permute(vals, tshape, [0, 2, 3, 1])
    return permute(vals, tshape, [2, 3, 1, 0])


# --- models -------------------------------------------------------------------------------------
if torch is not None:
    class NhwcCnn(tnn.Module):
        """tilenet's cnn on NHWC input; flattens in NHWC order as tilenet does."""
        def __init__(self):
            super().__init__()
            self.c1 = tnn.Conv2d(1, 32, 3, padding=1)
            self.c2 = tnn.Conv2d(32, 64, 3, padding=1)
            self.d1 = tnn.Linear(7 * 7 * 64, 128)
            self.d2 = tnn.Linear(128, 10)

        def forward(self, x):
            x = x.reshape(-1, 28, 28, 1).permute(0, 3, 1, 2)
            x = torch.max_pool2d(torch.relu(self.c1(x)), 2)
            x = torch.max_pool2d(torch.relu(self.c2(x)), 2)
            x = x.permute(0, 2, 3, 1).flatten(1)
            return self.d2(torch.relu(self.d1(x)))

    def torch_model(name):
        if name == "mlp":
            return tnn.Sequential(tnn.Flatten(), tnn.Linear(784, 512), tnn.ReLU(), tnn.Linear(512, 512),
                                  tnn.ReLU(), tnn.Linear(512, 10))
        return NhwcCnn()

    def weighted_layers(model):
        return [m for m in model.modules() if isinstance(m, (tnn.Linear, tnn.Conv2d))]


def mlp_forward_python(layers, x):
    """layers: [(kernel [in,out] flat, in, out, bias)] -> logits per input row."""
    outs = []
    for row in x:
        h = row
        for i, (kern, n_in, n_out, bias) in enumerate(layers):
            y = list(bias) if bias else [0.0] * n_out
            for a in range(n_in):
                ha = h[a]
                if ha:
                    base = a * n_out
                    for o in range(n_out):
                        y[o] += ha * kern[base + o]
            h = [max(v, 0.0) for v in y] if i + 1 < len(layers) else y
        outs.append(h)
    return outs


def softmax(row):
    m = max(row)
    e = [math.exp(v - m) for v in row]
    s = sum(e)
    return [v / s for v in e]


def compare(got, want, atol, rtol):
    """got, want: rows of outputs. ok when every |got - want| <= atol + rtol * |want|."""
    excess, max_abs, argmax_agree = 0.0, 0.0, 0
    for g, w in zip(got, want):
        excess = max(excess, max(abs(a - b) - rtol * abs(b) for a, b in zip(g, w)))
        max_abs = max(max_abs, max(abs(a - b) for a, b in zip(g, w)))
        argmax_agree += g.index(max(g)) == w.index(max(w))
    return {"max_abs_error": max_abs, "ok": excess <= atol and len(got) == len(want) > 0,
            "argmax_agree": f"{argmax_agree}/{len(got)}"}


def run_tilenet(args, extra):
    cmd = [os.path.join(args.bin, "train_mnist"), "--data", args.data, "--model", args.model,
           "--device", args.device, "--test-limit", str(args.samples), "--verbose", "0", *extra]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.strip()[-500:]}")


def outputs_of(dump, logits):
    """What tilenet reported (probabilities or logits): convert our logits to match."""
    return [softmax(r) for r in logits] if dump.get("outputs_are", "logits") == "probabilities" else logits


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="folder with train_mnist")
    ap.add_argument("--data", default=os.environ.get("TILENET_FASHION_MNIST", "/usr/share/datasets/fashion-mnist"),
                    help="MNIST-format IDX folder (default: $TILENET_FASHION_MNIST or Debian's Fashion-MNIST)")
    ap.add_argument("--model", default="mlp", choices=["mlp", "cnn"])
    ap.add_argument("--device", default="cpu", help="tilenet's device (cpu or cuda)")
    ap.add_argument("--samples", type=int, default=8, help="test images compared")
    ap.add_argument("--atol", type=float, default=1e-4)
    ap.add_argument("--rtol", type=float, default=1e-3)
    ap.add_argument("--workdir", default="")
    args = ap.parse_args()
    if torch is None and args.model != "mlp":
        sys.exit("check_checkpoint: the cnn check needs PyTorch")
    if not args.workdir:  # a private folder, removed afterwards
        with tempfile.TemporaryDirectory(prefix="tilenet-ckpt-") as work:
            return check(args, work)
    os.makedirs(args.workdir, exist_ok=True)
    return check(args, args.workdir)


def check(args, work):
    result = {"check": "checkpoint", "model": args.model, "device": args.device,
              "torch": torch.__version__ if torch is not None else None}

    # 1. tilenet -> PyTorch
    ck, dump_path = os.path.join(work, "tilenet.safetensors"), os.path.join(work, "tilenet_outputs.json")
    run_tilenet(args, ["--epochs", "1", "--train-limit", "2000", "--save", ck, "--dump-logits", dump_path])
    dump = json.load(open(dump_path))
    tensors = read_safetensors(ck)
    groups = layer_groups(tensors)
    result["tensors"] = {k: v[0] for k, v in tensors.items()}
    if torch is not None:
        model = torch_model(args.model).eval()
        layers = weighted_layers(model)
        if len(layers) != len(groups):
            raise SystemExit(f"checkpoint has {len(groups)} weighted layers, the model {len(layers)}: {list(tensors)}")
        with torch.no_grad():
            for m, (kname, bname) in zip(layers, groups):
                shape, vals = to_torch_layout(*tensors[kname], list(m.weight.shape))
                m.weight.copy_(torch.tensor(vals).reshape(shape))
                m.bias.copy_(torch.tensor(tensors[bname][1]) if bname else torch.zeros_like(m.bias))
            logits = model(torch.tensor(dump["inputs"])).tolist()
    else:
        layers = [(tensors[k][1], tensors[k][0][0], tensors[k][0][1], tensors[b][1] if b else None)
                  for k, b in groups]
        logits = mlp_forward_python(layers, dump["inputs"])
    result["tilenet_to_pytorch"] = compare(outputs_of(dump, logits), dump["outputs"], args.atol, args.rtol)

    # 2. PyTorch -> tilenet: fresh weights under tilenet's names and layouts.
    ck2, dump2_path = os.path.join(work, "pytorch.safetensors"), os.path.join(work, "pytorch_outputs.json")
    rng = random.Random(1234)
    fresh = {}
    if torch is not None:
        torch.manual_seed(1234)
        model = torch_model(args.model).eval()
        for m, (kname, bname) in zip(weighted_layers(model), groups):
            tshape, tvals = list(m.weight.shape), m.weight.detach().flatten().tolist()
            fresh[kname] = from_torch_layout(tshape, tvals, tensors[kname][0])
            if bname:
                with torch.no_grad():
                    m.bias.uniform_(-0.1, 0.1)
                fresh[bname] = ([m.bias.shape[0]], m.bias.detach().tolist())
        try:
            from safetensors.torch import save_file
            save_file({k: torch.tensor(v).reshape(s).contiguous() for k, (s, v) in fresh.items()}, ck2)
            result["pytorch_writer"] = "safetensors.torch.save_file"
        except ImportError:
            write_safetensors(ck2, fresh)
            result["pytorch_writer"] = "stdlib (safetensors package missing)"
    else:
        for kname, bname in groups:
            shape = tensors[kname][0]
            lim = math.sqrt(6.0 / (shape[0] + shape[1]))
            fresh[kname] = (shape, [rng.uniform(-lim, lim) for _ in range(math.prod(shape))])
            if bname:
                fresh[bname] = (tensors[bname][0], [rng.uniform(-0.1, 0.1) for _ in range(tensors[bname][0][0])])
        write_safetensors(ck2, fresh)
        result["pytorch_writer"] = "stdlib"
    run_tilenet(args, ["--epochs", "0", "--load", ck2, "--dump-logits", dump2_path])
    dump2 = json.load(open(dump2_path))
    if torch is not None:
        with torch.no_grad():
            logits2 = model(torch.tensor(dump2["inputs"])).tolist()
    else:
        layers = [(fresh[k][1], fresh[k][0][0], fresh[k][0][1], fresh[b][1] if b else None) for k, b in groups]
        logits2 = mlp_forward_python(layers, dump2["inputs"])
    result["pytorch_to_tilenet"] = compare(outputs_of(dump2, logits2), dump2["outputs"], args.atol, args.rtol)

    result["ok"] = result["tilenet_to_pytorch"]["ok"] and result["pytorch_to_tilenet"]["ok"]
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
