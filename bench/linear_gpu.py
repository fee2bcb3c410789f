"""fused.linear (a GEMV with the norm or gate before it in the same kernel) against
torch's kernels for the same work, per projection shape of PersonaPlex-7B (issue 20,
item 1): the depformer's (where fused.linear is used) and the trunk's (for reference).

Each shape is timed in a CUDA graph of back-to-back calls, each on its own weight copy
(so the weights come from memory, not the 50 MB L2 cache, as in a frame), for each
(BLOCK_N, BLOCK_K, warps) below; prints µs a call and the weights' read rate.

    PYTHONPATH=/tmp/site NO_TORCH_COMPILE=1 python3 bench/linear_gpu.py --out $OUT/linear.json
    python bench/linear_gpu.py --device cpu --shapes dep.out   # smoke (TRITON_INTERPRET=1)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("NO_TORCH_COMPILE", "1")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from arcus_desktop.engine import fused  # noqa: E402

# name: (N, K, what comes before the matmul)
SHAPES = {
    "dep.in": (1024, 4096, "plain"), "dep.qkv": (3072, 1024, "norm"),
    "dep.out": (1024, 1024, "plain"), "dep.gate_up": (8448, 1024, "norm"),
    "dep.down": (1024, 4224, "gate"), "dep.head": (2048, 1024, "add"),
    "trunk.qkv": (12288, 4096, "norm"), "trunk.out": (4096, 4096, "plain"),
    "trunk.gate_up": (22528, 4096, "norm"), "trunk.down": (4096, 11264, "gate"),
}
CONFIGS = [(4, 512, 4), (8, 512, 4), (16, 512, 4), (8, 256, 4), (32, 256, 8), (16, 1024, 8)]


def calls(kind: str, x, d, g, norm, blocks=None):
    """One call's work on weight w: fused.linear with `blocks`, or (None) torch's kernels
    for the same."""
    def fused_call(w):
        if kind == "norm":
            return fused.linear(x, w, norm, d, blocks=blocks)[0]
        if kind == "gate":
            return fused.linear(g, w, gate=True, blocks=blocks)[0]
        return fused.linear(x, w, None, d if kind == "add" else None, blocks=blocks)[0]

    def torch_call(w):
        if kind == "norm":
            return F.linear(fused.add_rms_norm(x, d, norm)[1], w)
        if kind == "gate":
            return F.linear(fused.silu_mul(g), w)
        return F.linear(x + d if kind == "add" else x, w)
    return fused_call if blocks else torch_call


def per_call_us(fn, weights, device, replays: int) -> float:
    if device.type != "cuda":
        t0 = time.perf_counter()
        for w in weights:
            fn(w)
        return (time.perf_counter() - t0) / len(weights) * 1e6
    for w in weights[:2]:  # compile, warm
        fn(w)
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for w in weights:
            fn(w)
    graph.replay()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(replays):
        graph.replay()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) * 1e3 / (replays * len(weights))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    ap.add_argument("--bytes", type=float, default=256, help="MB of weight copies per shape")
    ap.add_argument("--replays", type=int, default=5)
    ap.add_argument("--out")
    args = ap.parse_args()
    device = torch.device(args.device)
    dtype = torch.bfloat16
    assert fused.available(device), "fused kernels unavailable here"
    g = torch.Generator(device=device).manual_seed(0)
    result = {"device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
              "date": time.strftime("%Y-%m-%d %H:%M"), "commit": os.environ.get("COMMIT", "?"),
              "shapes": {}}
    for name in args.shapes:
        N, K, kind = SHAPES[name]
        size = N * K * 2
        copies = max(2, math.ceil(args.bytes * 2**20 / size)) if device.type == "cuda" else 2
        weights = [(torch.randn(N, K, device=device, generator=g) * K ** -0.5).to(dtype) for _ in range(copies)]
        x, d = (torch.randn(1, 1, K, device=device, generator=g).to(dtype) for _ in range(2))
        gx = torch.randn(1, 1, 2 * K, device=device, generator=g).to(dtype)
        norm = types.SimpleNamespace(alpha=torch.rand(K, device=device, generator=g) + 0.5, eps=1e-5)
        ref = calls(kind, x, d, gx, norm)(weights[0]).float()
        row = {"N": N, "K": K, "before": kind, "MB": round(size / 2**20, 1)}
        t = per_call_us(calls(kind, x, d, gx, norm), weights, device, args.replays)
        row["torch_us"] = round(t, 2)
        line = [f"{name} {N}x{K} ({kind}, {size / 2**20:.1f} MB): torch {t:.1f} us ({size / t / 1e6:.2f} TB/s)"]
        for cfg in CONFIGS:
            fn = calls(kind, x, d, gx, norm, cfg)
            err = float((fn(weights[0]).float() - ref).abs().max() / ref.abs().max())
            t = per_call_us(fn, weights, device, args.replays)
            row[str(cfg)] = [round(t, 2), err]
            line.append(f"{cfg}: {t:.1f} us ({size / t / 1e6:.2f} TB/s, err {err:.1e})")
        print("\n  ".join(line), flush=True)
        result["shapes"][name] = row
        del weights
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
