"""The Triton kernels behind fused.py (imported only where Triton is installed).
Module level: a jitted function can call another only as a global."""

import triton
import triton.language as tl


@triton.jit
def cast(x, dt: tl.constexpr):
    # float32 -> dt, rounding to nearest even as torch does. For bfloat16 the rounding
    # is done on the bits: Triton's CPU interpreter (the tests) truncates otherwise.
    if dt == tl.bfloat16:
        bits = x.to(tl.uint32, bitcast=True)
        bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
        x = bits.to(tl.float32, bitcast=True)
    return x.to(dt)


@triton.jit
def add_rms_norm(x_ptr, d_ptr, sum_ptr, out_ptr, alpha_ptr, N, eps,
                 HAS_DELTA: tl.constexpr, BLOCK: tl.constexpr):
    # One program per row. With a delta: sum = x + delta rounded to x's dtype (as a
    # plain add is), and the norm of that rounded sum.
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    inside = cols < N
    x = tl.load(x_ptr + row * N + cols, mask=inside, other=0.0).to(tl.float32)
    if HAS_DELTA:
        d = tl.load(d_ptr + row * N + cols, mask=inside, other=0.0).to(tl.float32)
        s = cast(x + d, sum_ptr.dtype.element_ty)
        tl.store(sum_ptr + row * N + cols, s, mask=inside)
        x = s.to(tl.float32)
    var = eps + tl.sum(x * x, axis=0) / N
    alpha = tl.load(alpha_ptr + cols, mask=inside, other=0.0).to(tl.float32)
    y = x * (alpha * (1.0 / tl.sqrt(var)))
    tl.store(out_ptr + row * N + cols, cast(y, out_ptr.dtype.element_ty), mask=inside)

@triton.jit
def rope_write(qkv_ptr, cos_ptr, sin_ptr, slot_ptr, cache_ptr, q_ptr, H, HALF,
               s_kv, s_b, s_h, s_t, BLOCK: tl.constexpr):
    # One program per (row, head): rotate q and k (interleaved pairs, float32), write
    # k and v into the ring at the row's slot, q to its own tensor [B, H, 1, D].
    pid = tl.program_id(0)
    b = pid // H
    h = pid % H
    i = tl.arange(0, BLOCK)
    inside = i < HALF
    D = 2 * HALF
    src = qkv_ptr + b * 3 * H * D + h * D
    c = tl.load(cos_ptr + b * HALF + i, mask=inside, other=0.0)
    s = tl.load(sin_ptr + b * HALF + i, mask=inside, other=0.0)
    qr = tl.load(src + 2 * i, mask=inside, other=0.0).to(tl.float32)
    qi = tl.load(src + 2 * i + 1, mask=inside, other=0.0).to(tl.float32)
    kr = tl.load(src + H * D + 2 * i, mask=inside, other=0.0).to(tl.float32)
    ki = tl.load(src + H * D + 2 * i + 1, mask=inside, other=0.0).to(tl.float32)
    v0 = tl.load(src + 2 * H * D + 2 * i, mask=inside, other=0.0)
    v1 = tl.load(src + 2 * H * D + 2 * i + 1, mask=inside, other=0.0)
    dt = q_ptr.dtype.element_ty
    q = q_ptr + pid * D
    tl.store(q + 2 * i, cast(qr * c - qi * s, dt), mask=inside)
    tl.store(q + 2 * i + 1, cast(qr * s + qi * c, dt), mask=inside)
    slot = tl.load(slot_ptr + b)
    k = cache_ptr + b * s_b + h * s_h + slot * s_t
    tl.store(k + 2 * i, cast(kr * c - ki * s, dt), mask=inside)
    tl.store(k + 2 * i + 1, cast(kr * s + ki * c, dt), mask=inside)
    tl.store(k + s_kv + 2 * i, v0, mask=inside)
    tl.store(k + s_kv + 2 * i + 1, v1, mask=inside)

@triton.jit
def silu_mul(h_ptr, out_ptr, F, BLOCK: tl.constexpr):
    # [rows, 2, F] -> [rows, F]: silu(first half) rounded as F.silu rounds, times the
    # second half.
    row = tl.program_id(1)
    cols = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    inside = cols < F
    a = tl.load(h_ptr + row * 2 * F + cols, mask=inside, other=0.0).to(tl.float32)
    g = tl.load(h_ptr + row * 2 * F + F + cols, mask=inside, other=0.0).to(tl.float32)
    dt = out_ptr.dtype.element_ty
    act = cast(a / (1.0 + tl.exp(-a)), dt).to(tl.float32)
    tl.store(out_ptr + row * F + cols, cast(act * g, dt), mask=inside)
