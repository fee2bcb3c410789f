"""Matmuls that read quantized weights as they are stored, for the GPU's low-memory modes.

A frame multiplies one row per session by every weight matrix, so it is bound by the
bytes of weights read. Expanding the weights to bf16 first (quant.py's fallback) reads
and writes them several times over; these read them once:

- int4: torch's own tinygemm kernel (`_weight_int4pack_mm`, CUDA, compute capability
  8.0 or newer) on weights repacked into its tile layout at load time.
- int8 and fp8 (the rows of one or a few sessions): a small Triton GEMV (Triton ships with
  torch's Linux CUDA wheels), one row of weights per program lane, scales applied once per
  output.
- fp8, more rows (a team server's batch): cuBLAS's fp8 matmul (`torch._scaled_mm`, Hopper)
  on the weights as stored and the activations cast to fp8 with one scale per row.

`available(mode, device)` says whether a kernel runs there; where none does, quant.py
expands the weights as before.
"""

from __future__ import annotations

import functools
import os

from .torch_env import torch

from ..core.modes import FP8, INT4, INT8

INNER_K_TILES = 8  # tinygemm's tile depth: 2, 4 or 8
GEMV = (INT8, FP8)  # the modes whose codes the Triton GEMV reads (one scale per output)
FP8_CAPABILITY = (8, 9)  # float8 conversion in registers: Ada, Hopper and newer


# ARCUS_QUANT_KERNELS=0 falls back to expanding the weights (benchmarks compare both;
# also a way out should a kernel misbehave on some GPU).
ENABLED = os.environ.get("ARCUS_QUANT_KERNELS", "1") != "0"


@functools.cache
def _capability(index: int) -> tuple[int, int]:
    return torch.cuda.get_device_capability(index)


def fp8_hardware(device: torch.device) -> bool:
    """Whether this GPU converts float8 in hardware (without it the fp8 mode is refused)."""
    return device.type == "cuda" and _capability(device.index or 0) >= FP8_CAPABILITY


def available(mode: str, device: torch.device, in_features: int, out_features: int,
              group: int) -> bool:
    if mode in GEMV and device.type == "cpu" and os.environ.get("TRITON_INTERPRET") == "1":
        return ENABLED and _triton() is not None  # Triton's interpreter: how CPU tests run it
    if not ENABLED or device.type != "cuda" or _capability(device.index or 0) < (8, 0):
        return False
    if mode == FP8:
        return fp8_hardware(device) and _triton() is not None and in_features % 16 == 0
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


def scaled_mm_available(device: torch.device, in_features: int, out_features: int) -> bool:
    """Whether cuBLAS's fp8 matmul with one scale per row and per output runs here."""
    return (ENABLED and device.type == "cuda" and hasattr(torch, "_scaled_mm")
            and _capability(device.index or 0) >= (9, 0)
            and in_features % 16 == 0 and out_features % 16 == 0)


# ---- int8 and fp8, one row at a time (Triton) ----


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
            inside = (rows[:, None] < N) & (kk[None, :] < K)
            # No `other`: Triton's interpreter cannot cast a fill value to float8.
            w = tl.load(w_ptr + rows[:, None] * K + kk[None, :], mask=inside)
            acc += tl.where(inside, w.to(tl.float32), 0.0) * x[None, :]
        out = tl.sum(acc, axis=1) * tl.load(s_ptr + rows, mask=rows < N, other=0.0).to(tl.float32)
        tl.store(y_ptr + m * N + rows, out.to(y_ptr.dtype.element_ty), mask=rows < N)

    return triton, gemv


# Best on the H200 at one row for every PersonaPlex shape (bench/quant_kernels_gpu.py).
GEMV_BLOCK_N = 4
GEMV_BLOCK_K = 512
# Each program reads its weights once per input row: past 16 rows (sessions served in one
# batch) expanding int8 weights costs less.
INT8_MAX_ROWS = 16
# fp8 on several rows: the GEMV reads the weights once per row, cuBLAS's fp8 matmul once
# for all rows but costs ~18 us a call (casting the rows to fp8, then the matmul; H100,
# bench/quant_kernels_gpu.py). Fitted to those timings: the GEMV while rows x in x out
# stays under this, e.g. 8 rows of the depformer's matrices, never the trunk's.
FP8_GEMV_MAX_ELEMENTS = 48 * 2**20


def fp8_gemv_wins(rows: int, in_features: int, out_features: int) -> bool:
    return rows == 1 or rows * in_features * out_features <= FP8_GEMV_MAX_ELEMENTS


def gemv_linear(x: torch.Tensor, codes: torch.Tensor, scales: torch.Tensor,
                block_n: int = GEMV_BLOCK_N, block_k: int = GEMV_BLOCK_K) -> torch.Tensor:
    """x @ (codes * scales).T for int8 or fp8 codes [out, in] and scales [out, 1]."""
    triton, gemv = _triton()
    shape = x.shape
    x2 = x.reshape(-1, shape[-1]).contiguous()
    m, k = x2.shape
    n = codes.shape[0]
    y = torch.empty(m, n, dtype=x.dtype, device=x.device)
    gemv[(triton.cdiv(n, block_n), m)](x2, codes, scales, y, m, n, k,
                                        BLOCK_N=block_n, BLOCK_K=block_k, num_warps=4)
    return y.reshape(*shape[:-1], n)


# ---- fp8, many rows (cuBLAS) ----

FP8_MAX = 448.0  # the largest float8_e4m3fn


def fp8_matmul(x: torch.Tensor, codes: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """x @ (codes * scales).T through `torch._scaled_mm`: x is cast to fp8 with one scale
    per row (so each row keeps its own range), the weights are used as stored."""
    shape = x.shape
    rows = x.reshape(-1, shape[-1])
    row_scale = (rows.abs().amax(dim=1, keepdim=True).float() / FP8_MAX).clamp_(min=1e-12)
    q = (rows.float() / row_scale).to(torch.float8_e4m3fn)
    # codes.t() is column-major, as cuBLAS wants the second operand.
    y = torch._scaled_mm(q, codes.t(), scale_a=row_scale, scale_b=scales.t(),
                         out_dtype=torch.bfloat16)
    return y.reshape(*shape[:-1], codes.shape[0]).to(x.dtype)
