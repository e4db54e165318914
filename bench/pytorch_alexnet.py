#!/usr/bin/env python3
"""PyTorch + cuDNN baseline for samples/alexnet/train_alexnet --synthetic.

torchvision's AlexNet written out (no torchvision needed): conv 3->64 11x11/4 pad 2, max-pool 3/2,
64->192 5x5 pad 2, max-pool, 192->384 3x3, 384->256 3x3, 256->256 3x3, max-pool (6x6 at 224 input,
so the adaptive average pool is the identity and is left out), dropout 0.5, 9216->4096, dropout,
4096->4096, 4096->classes. --bn adds BatchNorm2d after every convolution (tilenet's --bn variant).
channels_last activations and weights, cudnn.benchmark on, SGD(lr=0.01, momentum=0.9).
Precisions: fp32 (TF32 disabled for matmul and cuDNN, as tilenet's fp32 path computes in fp32) and
mixed (torch.autocast fp16 + GradScaler).

A step is zero_grad + forward + cross-entropy + backward + optimizer step on one synthetic batch
(random N x 3 x 224 x 224 images and labels, resident on the GPU). Each step is timed with CUDA
events after warm-up; step_ms is the median. peak_mem_mb is torch.cuda.max_memory_allocated over
the timed steps (model, optimizer state, batch, activations, workspaces), in MiB, after the warm-up
and cudnn.benchmark's algorithm search (whose trial workspaces tilenet's autotuning does not
allocate: it times its candidates inside the workspace the layers already hold) and an empty_cache; peak_reserved_mb is torch.cuda.max_memory_reserved over the same
steps (the caching allocator's hold on the driver). The *_incl_autotune_mb fields cover the whole
run. A non-finite final loss exits non-zero.
Prints one JSON line per run on stdout (the last line holds everything that was asked for).
"""
import argparse
import json
import math
import statistics
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


def conv_block(cin, cout, k, stride, pad, bn):
    layers = [nn.Conv2d(cin, cout, k, stride=stride, padding=pad, bias=not bn)]
    if bn:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(nn.ReLU(inplace=True))
    return layers


class AlexNet(nn.Module):
    def __init__(self, classes=1000, bn=False, dropout=0.5):
        super().__init__()
        self.features = nn.Sequential(
            *conv_block(3, 64, 11, 4, 2, bn), nn.MaxPool2d(3, 2),
            *conv_block(64, 192, 5, 1, 2, bn), nn.MaxPool2d(3, 2),
            *conv_block(192, 384, 3, 1, 1, bn),
            *conv_block(384, 256, 3, 1, 1, bn),
            *conv_block(256, 256, 3, 1, 1, bn), nn.MaxPool2d(3, 2))
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True),
            nn.Dropout(dropout), nn.Linear(4096, 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, classes))

    def forward(self, x):
        x = self.features(x)
        if x.shape[-2:] != (6, 6):
            x = F.adaptive_avg_pool2d(x, (6, 6))
        return self.classifier(torch.flatten(x, 1))


def run(precision, args):
    device = torch.device("cuda")
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    torch.manual_seed(args.seed)
    model = AlexNet(args.classes, args.bn).to(device, memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    x = torch.randn(args.batch_size, 3, args.size, args.size, device=device)
    x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, args.classes, (args.batch_size,), device=device)
    mixed = precision == "mixed"
    scaler = torch.amp.GradScaler("cuda", enabled=mixed)

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=mixed):
            loss = F.cross_entropy(model(x), y)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        return loss

    model.train()
    for _ in range(args.warmup):
        step()
    torch.cuda.synchronize()
    # cudnn.benchmark's first steps allocate the largest workspace of every candidate algorithm
    # through the caching allocator; tilenet's search times inside the workspace its layers hold. The goal's peak
    # is the steady one: measured over the timed steps, after the search's cached blocks are freed.
    peak_incl_search = torch.cuda.max_memory_allocated() / 2**20
    reserved_incl_search = torch.cuda.max_memory_reserved() / 2**20
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
              for _ in range(args.steps)]
    for start, end in events:
        start.record()
        loss = step()
        end.record()
    torch.cuda.synchronize()
    times = [s.elapsed_time(e) for s, e in events]
    step_ms = statistics.median(times)
    result = {
        "step_ms": step_ms, "step_ms_mean": statistics.fmean(times),
        "step_ms_min": min(times), "images_per_s": args.batch_size * 1000.0 / step_ms,
        "peak_mem_mb": torch.cuda.max_memory_allocated() / 2**20,
        "peak_reserved_mb": torch.cuda.max_memory_reserved() / 2**20,
        "peak_mem_incl_autotune_mb": max(peak_incl_search, torch.cuda.max_memory_allocated() / 2**20),
        "peak_reserved_incl_autotune_mb": max(reserved_incl_search, torch.cuda.max_memory_reserved() / 2**20),
        "final_loss": loss.item(),
    }
    if not math.isfinite(result["final_loss"]):
        sys.exit(f"pytorch_alexnet: {precision} training diverged (loss {result['final_loss']})")
    del model, opt, x, y, scaler
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--precision", default="fp32,mixed", help="fp32, mixed, or both comma-separated")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--size", type=int, default=224, help="input height and width")
    ap.add_argument("--bn", action="store_true", help="BatchNorm after each convolution")
    ap.add_argument("--steps", type=int, default=30, help="timed steps")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    precisions = [p.strip() for p in args.precision.split(",") if p.strip()]
    for p in precisions:
        if p not in ("fp32", "mixed"):
            ap.error(f"unknown precision {p!r} (fp32 or mixed)")
    if not torch.cuda.is_available():
        sys.exit("pytorch_alexnet: no CUDA device")

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True

    out = {"bench": "pytorch_alexnet", "batch_size": args.batch_size, "classes": args.classes,
           "size": args.size, "bn": args.bn, "steps": args.steps, "warmup": args.warmup,
           "torch": torch.__version__, "cudnn": torch.backends.cudnn.version(),
           "device": torch.cuda.get_device_name()}
    for p in precisions:
        out[p] = run(p, args)
        print(f"{p}: {json.dumps(out[p])}", file=sys.stderr, flush=True)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
