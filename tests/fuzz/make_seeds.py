#!/usr/bin/env python3
"""Writes small valid seed files for the fuzz targets: make_seeds.py <corpus-dir>
creates <dir>/idx, <dir>/cifar and <dir>/safetensors."""
import gzip, json, os, struct, sys

out = sys.argv[1] if len(sys.argv) > 1 else "corpus"
for d in ("idx", "cifar", "safetensors"):
    os.makedirs(os.path.join(out, d), exist_ok=True)

def put(d, name, data):
    with open(os.path.join(out, d, name), "wb") as f:
        f.write(data)

def idx(dims, data):
    return bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", x) for x in dims) + bytes(data)

images = idx([2, 3, 3], range(18))
labels = idx([4], [0, 9, 3, 1])
put("idx", "images", images)
put("idx", "labels", labels)
put("idx", "images.gz", gzip.compress(images, mtime=0))
put("idx", "labels.gz", gzip.compress(labels, mtime=0))

record = bytes([3]) + bytes((i * 7) % 256 for i in range(3072))
put("cifar", "one_record.bin", record)

def st(tensors, meta=None):
    header, blob = {}, b""
    if meta:
        header["__metadata__"] = meta
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(blob), len(blob) + len(data)]}
        blob += data
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + blob

put("safetensors", "two.safetensors",
    st([("w", "F32", [2, 2], struct.pack("<4f", 1, -2, 3.5, 0)), ("b", "I32", [1], struct.pack("<i", 7))],
       {"epoch": "3"}))
put("safetensors", "half.safetensors", st([("h", "F16", [3], b"\x00\x3c\x00\xc0\xff\x7b"), ("e", "F32", [0], b"")]))
