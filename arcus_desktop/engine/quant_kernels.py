"""Matmuls that read quantized weights as they are stored, for the GPU's low-memory modes.

A frame multiplies one row per session by every weight matrix, so it is bound by the
bytes of weights read. Expanding the weights to bf16 first (quant.py's fallback) reads
and writes them several times over; these read them once:

- int4: torch's own tinygemm kernel (`_weight_int4pack_mm`, CUDA, compute capability
  8.0 or newer) on weights repacked into its tile layout at load time.
- int8: a small Triton kernel (Triton ships with torch's Linux CUDA wheels), one row of
  weights per program lane, scales applied once per output.

`available(mode, device)` says whether a kernel runs there; where none does, quant.py
expands the weights as before.
"""

from __future__ import annotations

import functools
import os

from .torch_env import torch

from ..core.modes import INT4, INT8

INNER_K_TILES = 8  # tinygemm's tile depth: 2, 4 or 8


# ARCUS_QUANT_KERNELS=0 falls back to expanding the weights (benchmarks compare both;
# also a way out should a kernel misbehave on some GPU).
ENABLED = os.environ.get("ARCUS_QUANT_KERNELS", "1") != "0"


@functools.cache
def _capability(index: int) -> tuple[int, int]:
    return torch.cuda.get_device_capability(index)


def available(mode: str, device: torch.device, in_features: int, out_features: int,
              group: int) -> bool:
    if mode == INT8 and device.type == "cpu" and os.environ.get("TRITON_INTERPRET") == "1":
        return ENABLED and _triton() is not None  # Triton's interpreter: how CPU tests run it
    if not ENABLED or device.type != "cuda" or _capability(device.index or 0) < (8, 0):
        return False
    if mode == INT4:
        return (hasattr(torch.ops.aten, "_weight_int4pack_mm") and group in (32, 64, 128, 256)
                and in_features % (INNER_K_TILES * 16) == 0 and out_features % 8 == 0)
    if mode == INT8:
        return _triton() is not None and in_features % 16 == 0
    return False


# ---- int4 (tinygemm) ----

def int4_pack(codes: torch.Tensor, scales: torch.Tensor, group: int,
              inner_k_tiles: int = INNER_K_TILES) -> tuple[torch.Tensor, torch.Tensor]:
    """quant.py's int4 layout (low nibble first, offset 8; scales [out, in / group]) to
    tinygemm's: high nibble first, then tiled; scales and zero points [in / group, out, 2]
    (zero 0: the codes are symmetric around 8, which tinygemm subtracts itself)."""
    # Few temporaries: this runs while the model loads, on a GPU that is nearly full.
    swapped = codes.bitwise_left_shift(4).bitwise_or_(codes >> 4)  # uint8: the low nibble's bits move out
    packed = torch.ops.aten._convert_weight_to_int4pack(swapped, inner_k_tiles)
    del swapped
    s = scales.to(torch.bfloat16).t().contiguous()
    scales_and_zeros = torch.stack([s, torch.zeros_like(s)], dim=-1).contiguous()
    return packed, scales_and_zeros


def int4_linear(x: torch.Tensor, packed: torch.Tensor, scales_and_zeros: torch.Tensor,
                group: int, out_features: int) -> torch.Tensor:
    shape = x.shape
    rows = x.reshape(-1, shape[-1]).to(torch.bfloat16).contiguous()  # moshi passes slices
    y = torch.ops.aten._weight_int4pack_mm(rows, packed,
                                           group, scales_and_zeros)
    return y.reshape(*shape[:-1], out_features).to(x.dtype)


# ---- int8 (Triton) ----

@functools.cache
def _triton():
    try:
        import triton
        import triton.language as tl
    except ImportError:
        return None

    @triton.jit
    def gemv(x_ptr, w_ptr, s_ptr, y_ptr, M, N, K,
             BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
        # One program: BLOCK_N outputs of one input row, over the whole of K.
        m = tl.program_id(1)
        rows = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
        cols = tl.arange(0, BLOCK_K)
        acc = tl.zeros((BLOCK_N, BLOCK_K), dtype=tl.float32)
        for k in range(0, K, BLOCK_K):
            kk = k + cols
            x = tl.load(x_ptr + m * K + kk, mask=kk < K, other=0.0).to(tl.float32)
            w = tl.load(w_ptr + rows[:, None] * K + kk[None, :],
                        mask=(rows[:, None] < N) & (kk[None, :] < K), other=0).to(tl.float32)
            acc += w * x[None, :]
        out = tl.sum(acc, axis=1) * tl.load(s_ptr + rows, mask=rows < N, other=0.0).to(tl.float32)
        tl.store(y_ptr + m * N + rows, out.to(y_ptr.dtype.element_ty), mask=rows < N)

    return triton, gemv


# Best on the H200 at one row for every PersonaPlex shape (bench/quant_kernels_gpu.py).
INT8_BLOCK_N = 4
INT8_BLOCK_K = 512
# Each program reads its weights once per input row: past 16 rows (sessions served in one
# batch) expanding the weights costs less.
INT8_MAX_ROWS = 16


def int8_linear(x: torch.Tensor, codes: torch.Tensor, scales: torch.Tensor,
                block_n: int = INT8_BLOCK_N, block_k: int = INT8_BLOCK_K) -> torch.Tensor:
    triton, gemv = _triton()
    shape = x.shape
    x2 = x.reshape(-1, shape[-1]).contiguous()
    m, k = x2.shape
    n = codes.shape[0]
    y = torch.empty(m, n, dtype=x.dtype, device=x.device)
    gemv[(triton.cdiv(n, block_n), m)](x2, codes, scales, y, m, n, k,
                                        BLOCK_N=block_n, BLOCK_K=block_k, num_warps=4)
    return y.reshape(*shape[:-1], n)
