#!/usr/bin/env python3
"""PyTorch baseline for samples/mnist/train_mnist: the same models, data handling and optimizer.

Models (Keras initialisation: Glorot-uniform kernels, zero biases):
  mlp  784-512-512-10, ReLU, Dropout(0.2) after each hidden layer, RMSprop(lr=1e-3, rho=0.9, eps=1e-7)
  cnn  Conv(32,3x3,same)+ReLU, MaxPool 2, Conv(64,3x3,same)+ReLU, MaxPool 2, Flatten,
       Dense(128)+ReLU, Dropout(0.5), Dense(10); Adam(lr=1e-3)
Both train with softmax cross-entropy, batch 128, and by default (as train_mnist) a cosine decay of
the learning rate to 0 over the run, stepped per batch (CosineAnnealingLR = Keras CosineDecay);
--lr-schedule constant gives the classic examples. (Keras/tilenet RMSprop puts eps inside the square
root, PyTorch outside; with eps=1e-7 the two differ only for near-zero second moments.) The whole data set is resident on the GPU as
normalised float32 ([0,1]); each epoch shuffles with torch.randperm on the device; the loss is
accumulated on the device, so no batch synchronises the host (idiomatic, and the fastest eager
form). An epoch is what Keras's fit(..., validation_data=test) does: one training pass plus an
evaluation of the test set; its time is wall-clock with a synchronize at the end.

Prints progress to stderr and, as its last stdout line, one JSON object:
  {"bench": "pytorch_mnist", "model": ..., "epoch_time_s": mean of the epochs after the first,
   "test_accuracy": ..., "test_loss": ..., "peak_mem_mb": ..., ...}
Needs only torch and the standard library. Reads IDX files (gzipped or raw) itself.
"""
import argparse
import gzip
import json
import math
import os
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

IDX_NAMES = {
    "train_images": ["train-images-idx3-ubyte", "train-images.idx3-ubyte"],
    "train_labels": ["train-labels-idx1-ubyte", "train-labels.idx1-ubyte"],
    "test_images": ["t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"],
    "test_labels": ["t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"],
}


def find_idx(data_dir, key):
    for base in IDX_NAMES[key]:
        for name in (base, base + ".gz"):
            path = os.path.join(data_dir, name)
            if os.path.isfile(path):
                return path
    raise FileNotFoundError(f"{data_dir}: none of {IDX_NAMES[key][0]}[.gz] found")


def read_idx(path):
    """Returns (dims, bytes) of an unsigned-byte IDX file, gzipped or raw."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    count = math.prod(dims)
    off = 4 + 4 * ndim
    if len(raw) != off + count:
        raise ValueError(f"{path}: expected {off + count} bytes for dims {dims}, got {len(raw)}")
    return dims, raw[off:]


def load_split(data_dir, split, limit, device):
    dims, pixels = read_idx(find_idx(data_dir, split + "_images"))
    ldims, labels = read_idx(find_idx(data_dir, split + "_labels"))
    if ldims[0] != dims[0]:
        raise ValueError(f"{split}: {dims[0]} images but {ldims[0]} labels")
    n = dims[0] if limit <= 0 else min(limit, dims[0])
    x = torch.frombuffer(bytearray(pixels), dtype=torch.uint8).view(dims[0], 1, dims[1], dims[2])[:n]
    y = torch.frombuffer(bytearray(labels), dtype=torch.uint8)[:n].long()
    x = x.to(device).float().div_(255.0)
    return x, y.to(device)


def keras_init(model):
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)


def make_model(name):
    if name == "mlp":
        model = nn.Sequential(
            nn.Flatten(),
            nn.Linear(784, 512), nn.ReLU(), nn.Dropout(0.2),
            nn.Linear(512, 512), nn.ReLU(), nn.Dropout(0.2),
            nn.Linear(512, 10))
    elif name == "cnn":
        model = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(128, 10))
    else:
        raise ValueError(f"unknown model {name!r} (mlp or cnn)")
    keras_init(model)
    return model


def make_optimizer(name, params, lr):
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr or 1e-3, alpha=0.9, eps=1e-7)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr or 1e-3, betas=(0.9, 0.999), eps=1e-7)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr or 1e-2, momentum=0.9)
    raise ValueError(f"unknown optimizer {name!r} (rmsprop, adam, sgd)")


@torch.no_grad()
def evaluate(model, x, y, batch):
    model.eval()
    loss_sum = torch.zeros((), device=x.device)
    correct = torch.zeros((), device=x.device, dtype=torch.long)
    for i in range(0, x.shape[0], batch):
        logits = model(x[i:i + batch])
        loss_sum += F.cross_entropy(logits, y[i:i + batch], reduction="sum")
        correct += (logits.argmax(1) == y[i:i + batch]).sum()
    n = x.shape[0]
    return loss_sum / n, correct.float() / n


def train_epoch(model, opt, sched, x, y, batch, gen):
    model.train()
    n = x.shape[0]
    perm = torch.randperm(n, device=x.device, generator=gen)
    loss_sum = torch.zeros((), device=x.device)
    correct = torch.zeros((), device=x.device, dtype=torch.long)
    for i in range(0, n, batch):
        idx = perm[i:i + batch]
        xb, yb = x[idx], y[idx]
        logits = model(xb)
        loss = F.cross_entropy(logits, yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        loss_sum += loss.detach() * idx.numel()
        correct += (logits.detach().argmax(1) == yb).sum()
    return loss_sum / n, correct.float() / n


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="folder with the four MNIST-format IDX files")
    ap.add_argument("--model", default="mlp", choices=["mlp", "cnn"])
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--optimizer", default=None, help="rmsprop (mlp default), adam (cnn default), sgd")
    ap.add_argument("--lr", type=float, default=0.0, help="0: the optimizer's default")
    ap.add_argument("--lr-schedule", default="cosine", choices=["cosine", "constant"])
    ap.add_argument("--train-limit", type=int, default=0)
    ap.add_argument("--test-limit", type=int, default=0)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--tf32", action="store_true", help="allow TF32 (off by default: tilenet computes in fp32)")
    args = ap.parse_args()
    if args.epochs < 1:
        ap.error("--epochs must be >= 1")

    device = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.backends.cudnn.allow_tf32 = args.tf32
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(args.seed)
    gen = torch.Generator(device=device)
    gen.manual_seed(args.seed)

    x_train, y_train = load_split(args.data, "train", args.train_limit, device)
    x_test, y_test = load_split(args.data, "test", args.test_limit, device)
    if args.model == "mlp":
        x_train, x_test = x_train.flatten(1), x_test.flatten(1)
    model = make_model(args.model).to(device)
    opt_name = args.optimizer or ("rmsprop" if args.model == "mlp" else "adam")
    opt = make_optimizer(opt_name, model.parameters(), args.lr)
    sched = None
    if args.lr_schedule == "cosine":
        steps = args.epochs * ((x_train.shape[0] + args.batch_size - 1) // args.batch_size)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=0.0)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()

    history, times = [], []
    for epoch in range(args.epochs):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        tr_loss, tr_acc = train_epoch(model, opt, sched, x_train, y_train, args.batch_size, gen)
        te_loss, te_acc = evaluate(model, x_test, y_test, args.batch_size)
        if device.type == "cuda":
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        times.append(dt)
        h = {"epoch": epoch + 1, "loss": tr_loss.item(), "accuracy": tr_acc.item(),
             "val_loss": te_loss.item(), "val_accuracy": te_acc.item(), "time_s": dt}
        history.append(h)
        print(f"Epoch {epoch + 1}/{args.epochs} {dt:.3f}s - loss: {h['loss']:.4f} - accuracy: "
              f"{h['accuracy']:.4f} - val_loss: {h['val_loss']:.4f} - val_accuracy: {h['val_accuracy']:.4f}",
              file=sys.stderr, flush=True)

    steady = times[1:] if len(times) > 1 else times
    result = {
        "bench": "pytorch_mnist", "model": args.model, "optimizer": opt_name,
        "epochs": args.epochs, "batch_size": args.batch_size, "lr_schedule": args.lr_schedule,
        "train_samples": x_train.shape[0], "test_samples": x_test.shape[0],
        "epoch_time_s": sum(steady) / len(steady), "epoch_times_s": times,
        "test_accuracy": history[-1]["val_accuracy"], "test_loss": history[-1]["val_loss"],
        "peak_mem_mb": (torch.cuda.max_memory_allocated() / 2**20) if device.type == "cuda" else None,
        "peak_reserved_mb": (torch.cuda.max_memory_reserved() / 2**20) if device.type == "cuda" else None,
        "tf32": args.tf32, "torch": torch.__version__,
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "history": history,
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
