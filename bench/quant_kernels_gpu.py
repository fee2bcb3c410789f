"""The low-memory modes' matmuls one by one, on every weight shape of PersonaPlex-7B:
bf16 (the reference), the expand-to-bf16 fallback (quant.py), and the kernels that read
packed weights (quant_kernels.py), each timed inside a CUDA graph (as the frame runs
them) and checked against the expanded weights. The sum over one frame's matrices
predicts what each choice does to the frame time.

    python bench/quant_kernels_gpu.py [--out kernels.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("NO_TORCH_COMPILE", "1")

import torch  # noqa: E402

from arcus_desktop.engine import constants as C, quant, quant_kernels as K  # noqa: E402

F = torch.nn.functional


def frame_shapes() -> dict[tuple[int, int], int]:
    """(out, in) of every quantized matrix one frame multiplies, with how many times."""
    kw = C.PERSONAPLEX_LM_KWARGS
    d, dd = kw["dim"], kw["depformer_dim"]
    hidden = int(d * kw["hidden_scale"]) * 2 // 3
    dhidden = int(kw["depformer_dim_feedforward"]) * 2 // 3
    layers, dlayers, steps = kw["num_layers"], kw["depformer_num_layers"], C.NUM_CODEBOOKS
    shapes = {(3 * d, d): layers, (d, d): layers, (2 * hidden, d): layers, (d, hidden): layers,
              (kw["text_card"], d): 1}
    for shape in ((3 * dd, dd), (dd, dd), (2 * dhidden, dd), (dd, dhidden)):
        shapes[shape] = shapes.get(shape, 0) + dlayers * steps
    return shapes


def graph_time_us(fn, reps: int = 50, rounds: int = 5) -> float:
    """Microseconds per call, replaying `reps` calls captured in one CUDA graph."""
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for _ in range(reps):
            fn()
    g.replay()
    torch.cuda.synchronize()
    best = float("inf")
    for _ in range(rounds):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        g.replay()
        b.record()
        torch.cuda.synchronize()
        best = min(best, a.elapsed_time(b) * 1000 / reps)
    return best


def rel_err(y: torch.Tensor, ref: torch.Tensor) -> float:
    return float((y.float() - ref.float()).norm() / ref.float().norm())


def repack(layer: quant.QuantLinear) -> bool:
    """A hand-built int4 layer in tinygemm's layout, as the loader writes it while reading."""
    if not quant.packs(layer.mode, layer.codes.device, layer.out_features, layer.in_features):
        return False
    packed = quant.pack({"w.codes": layer.codes, "w.scales": layer.scales}, layer.in_features)
    layer.codes, layer.scales = packed["w.codes"], packed["w.scales"]
    return True


def wiring(dev: torch.device) -> dict:
    """QuantLinear as the model uses it (kernels chosen by the layer, int4 repacked by
    the loader's packing, `repack`) against its own expanded weights before any repacking."""
    out = {}
    for mode in ("int8", "fp8", "int4"):
        for n, k in ((12288, 4096), (4096, 11264), (1024, 1024)):
            layer = quant.QuantLinear(n, k, mode, torch.bfloat16, device=dev)
            layer.codes, layer.scales = quant.quantize(torch.randn(n, k, device=dev) / k ** 0.5, mode)
            w = layer.weight
            x = torch.randn(3, k, device=dev, dtype=torch.bfloat16)
            ref = F.linear(x, w)
            packed = repack(layer)
            sliced = torch.cat([x, x], dim=-1)[:, :k]  # not contiguous, as moshi passes some
            out[f"{mode}_{n}x{k}"] = {"repacked": packed, "forward_err": rel_err(layer(x), ref),
                                      "sliced_err": rel_err(layer(sliced), ref),
                                      "weight_err": rel_err(layer.dequantized(), w),
                                      "weight_stand_in": [str(layer.weight.dtype), list(layer.weight.shape)]}
    print(json.dumps({"wiring": out}), flush=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out")
    ap.add_argument("--batch", type=int, nargs="+", default=[1])
    ap.add_argument("--wiring-only", action="store_true")
    ap.add_argument("--quick", action="store_true", help="int8 with its chosen block only")
    args = ap.parse_args()
    torch.manual_seed(0)
    dev = torch.device("cuda")
    checked = wiring(dev)
    if args.wiring_only:
        if args.out:
            Path(args.out).write_text(json.dumps({"wiring": checked}, indent=1))
        return 0
    int8_blocks = [(8, 256), (16, 256), (32, 256), (16, 512), (32, 128), (64, 128), (4, 512)]
    if args.quick:
        int8_blocks = [(K.GEMV_BLOCK_N, K.GEMV_BLOCK_K)]
    rows = []
    for (n, k), count in frame_shapes().items():
        w = torch.randn(n, k, device=dev, dtype=torch.bfloat16) / k ** 0.5
        for m in args.batch:
            x = torch.randn(m, k, device=dev, dtype=torch.bfloat16)
            row = {"out": n, "in": k, "count": count, "batch": m,
                   "bf16_us": graph_time_us(lambda: F.linear(x, w))}
            for mode in ("int8", "fp8", "int4"):
                layer = quant.QuantLinear(n, k, mode, torch.bfloat16, device=dev)
                layer.codes, layer.scales = quant.quantize(w, mode)
                ref = F.linear(x, layer.weight)
                K.ENABLED = False  # the layer's own fallback: expand, then cuBLAS
                try:
                    row[f"{mode}_expand_us"] = graph_time_us(lambda: layer(x))
                finally:
                    K.ENABLED = True
                group = quant.group_size(k)
                if mode == "int8" and K.available("int8", dev, k, n, group):
                    best = None
                    for bn, bk in int8_blocks:
                        fn = lambda: K.gemv_linear(x, layer.codes, layer.scales, bn, bk)  # noqa: E731
                        t = graph_time_us(fn)
                        row[f"int8_triton_{bn}x{bk}_us"] = t
                        if best is None or t < best[0]:
                            best = (t, bn, bk, rel_err(fn(), ref))
                    row["int8_kernel_us"], row["int8_block"] = best[0], f"{best[1]}x{best[2]}"
                    row["int8_kernel_err"] = best[3]
                if mode == "fp8" and K.available("fp8", dev, k, n, group):
                    fn = lambda: K.gemv_linear(x, layer.codes, layer.scales)  # noqa: E731
                    row["fp8_gemv_us"], row["fp8_gemv_err"] = graph_time_us(fn), rel_err(fn(), ref)
                if mode == "fp8" and K.scaled_mm_available(dev, k, n):
                    fn = lambda: K.fp8_matmul(x, layer.codes, layer.scales)  # noqa: E731
                    row["fp8_scaled_mm_us"], row["fp8_scaled_mm_err"] = graph_time_us(fn), rel_err(fn(), ref)
                if mode == "int4" and K.available("int4", dev, k, n, group):
                    best = None
                    for tiles in (2, 4, 8):
                        packed, sz = K.int4_pack(layer.codes, layer.scales, group, tiles)
                        fn = lambda: K.int4_linear(x, packed, sz, group, n)  # noqa: E731
                        t = graph_time_us(fn)
                        row[f"int4_tinygemm_{tiles}_us"] = t
                        if best is None or t < best[0]:
                            best = (t, tiles, rel_err(fn(), ref))
                    row["int4_kernel_us"], row["int4_tiles"], row["int4_kernel_err"] = best
                del layer
            rows.append(row)
            print(json.dumps(row), flush=True)
    totals = {}
    for m in args.batch:
        for key in ("bf16_us", "int8_expand_us", "fp8_expand_us", "int4_expand_us", "int8_kernel_us",
                    "fp8_gemv_us", "fp8_scaled_mm_us", "int4_kernel_us"):
            totals[f"batch{m}_{key[:-3]}_ms"] = round(sum(r.get(key, float("nan")) * r["count"]
                                                          for r in rows if r["batch"] == m) / 1000, 2)
    result = {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__,
              "wiring": checked, "rows": rows, "per_frame_matmuls": totals}
    print(json.dumps(totals, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
