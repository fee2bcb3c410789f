"""Fused GPU kernels for the lean passes (trunk.py, depformer.py, mimi_lean.py).

A frame of one conversation is a chain of small kernels between the weight matrices:
each RMSNorm was a cast to float32, the norm and a cast back, after a separate residual
add; RoPE went through complex float32 tensors, a stack and a scatter into the key/value
ring; the gate was an activation and a product. Each small kernel costs a few
microseconds of a GPU that is otherwise reading weights. Here each of those groups is
one Triton kernel, with the same arithmetic: float32 inside, rounded to the model's
dtype where moshi rounds (the residual sum, the activation).

`available(device)` says whether they run there: CUDA with Triton, or Triton's
interpreter on the CPU (how the tests run them). ARCUS_FUSED=0 turns them off
(benchmarks compare both; a way out should a kernel misbehave on some GPU).

The trunk's and Mimi's attention (ring_attention) reads only the slots of the key/value
ring that hold positions: a conversation's first four minutes fill PersonaPlex's
3000-slot ring, and torch's attention read all of it in every layer of every frame. A
depformer step's attention (step_attention) writes its key and value and attends in one
kernel. A token's draw (sample) is one kernel where torch sorted for its top-k, and
writes the token into the next frame. A frame's input embeddings (Tables) and each
call's ring positions, mask and RoPE angles (ring_positions) are one kernel each where
moshi's ran dozens.

On Hopper and newer the kernels use programmatic dependent launch (PDL): a kernel may
start while the one before it ends, and waits for it at its top (fused_triton.pdl_enter).
"""

from __future__ import annotations

import functools
import logging
import os
import types

from .torch_env import torch

import torch.nn.functional as F

log = logging.getLogger(__name__)

ENABLED = os.environ.get("ARCUS_FUSED", "1") != "0"
# The trunk's and Mimi's attention through ring_attention (reads the ring's filled slots
# only) rather than torch's kernels over the whole ring; ARCUS_RING_ATTENTION=0 turns it off.
RING_ATTENTION = os.environ.get("ARCUS_RING_ATTENTION", "1") != "0"
# Draws through `sample` (one kernel) rather than moshi's sort-based top-k;
# ARCUS_FUSED_SAMPLE=0 turns it off.
SAMPLE = os.environ.get("ARCUS_FUSED_SAMPLE", "1") != "0"
# The depformer's projections through `linear` (the norm or the gate before each in the
# same kernel) rather than torch's matmuls; ARCUS_FUSED_LINEAR=0 turns it off.
LINEAR = os.environ.get("ARCUS_FUSED_LINEAR", "1") != "0"
# The trunk's too (off unless ARCUS_TRUNK_LINEAR=1: torch's matmuls are near the
# weights' bound there; bench/linear_gpu.py and bench/fused_gpu.py compare).
TRUNK_LINEAR = os.environ.get("ARCUS_TRUNK_LINEAR", "0") == "1"
# But the trunk's attention output projection (4096 x 4096) through `linear` with wider
# blocks: 13.9 µs against cuBLAS's 15.7 with its split-K reduction (bench/linear_gpu.py,
# H100); ARCUS_TRUNK_OUT_LINEAR=0 turns it off.
TRUNK_OUT_LINEAR = os.environ.get("ARCUS_TRUNK_OUT_LINEAR", "1") != "0"
TRUNK_OUT_BLOCKS = (16, 512, 4)
# Programmatic dependent launch on Hopper and newer: each kernel may be launched while
# the one before it ends (see fused_triton.pdl_enter); ARCUS_PDL=0 turns it off.
PDL = os.environ.get("ARCUS_PDL", "1") != "0"


@functools.cache
def _pdl_capable(index: int) -> bool:
    from . import fused_triton

    return torch.cuda.get_device_capability(index) >= (9, 0) and fused_triton.gdc_wait is not None


def _pdl(t: torch.Tensor) -> dict:
    """A kernel's launch options for programmatic dependent launch, where it runs."""
    if PDL and t.is_cuda and _pdl_capable(t.device.index or 0):
        return {"PDL": True, "launch_pdl": True}
    return {"PDL": False}


@functools.cache
def _kernels():
    from . import fused_triton as k

    return k if k.triton is not None else None  # None: no Triton here


@functools.cache
def codec_kernels():
    """Mimi's kernels (codec_triton: rvq_lean's and seanet_lean's); None without Triton."""
    from . import codec_triton as k

    return k if k.triton is not None else None


def available(device: torch.device) -> bool:
    if not ENABLED:
        return False
    if device.type == "cpu":
        return os.environ.get("TRITON_INTERPRET") == "1" and _kernels() is not None
    return device.type == "cuda" and torch.cuda.get_device_capability(device) >= (8, 0) \
        and _kernels() is not None and _works(torch.device("cuda", device.index or 0))


_ahead = None  # kernel_warmup.Compiling: the kernels being compiled in a child process


def compiled_ahead(compiling) -> None:
    """The first use of the kernels waits for `compiling` (kernel_warmup.start): it is
    ahead, and compiling the same kernels here too would only slow both. When it says
    they passed their check there, they are not checked again here."""
    global _ahead
    _ahead = compiling


@functools.cache
def _works(dev: torch.device) -> bool:
    """Each kernel compiled and checked against torch once per GPU: Triton builds its
    launcher with the system's C compiler, which a laptop may lack. Without them the
    passes run as before, only slower."""
    global _ahead, PDL
    if _ahead is not None:
        ahead, _ahead = _ahead, None
        if ahead.wait():  # checked in the child, on this GPU with these libraries
            return True
    try:
        ok = _check(dev)
    except Exception as e:  # a compiler missing, a Triton that cannot build for this GPU
        if not (PDL and dev.type == "cuda"):
            log.warning("fused kernels unavailable, using torch's: %s", e)
            return False
        log.warning("programmatic dependent launch unavailable (%s); launching plainly", e)
        PDL = False
        return _works.__wrapped__(dev)
    if not ok:
        log.warning("fused kernels disagree with torch on this GPU; using torch's")
    return bool(ok)


def _check(dev: torch.device) -> bool:
    """Each kernel once on small inputs against torch; raises where one cannot run."""
    g = torch.Generator(device=dev).manual_seed(0)
    x, d = (torch.randn(2, 1, 64, device=dev, generator=g, dtype=torch.bfloat16) for _ in range(2))
    norm = types.SimpleNamespace(alpha=torch.rand(64, device=dev, generator=g) + 0.5, eps=1e-5)
    _, y = add_rms_norm(x, d, norm)
    ref = F.rms_norm((x + d).float(), (64,), norm.alpha, norm.eps)
    ok = torch.allclose(y.float(), ref, rtol=0.02, atol=0.02)
    h = torch.randn(2, 1, 128, device=dev, generator=g, dtype=torch.bfloat16)
    ok &= torch.allclose(silu_mul(h).float(), (F.silu(h[..., :64]) * h[..., 64:]).float(),
                         rtol=0.02, atol=0.02)
    cache = torch.zeros(2, 2, 2, 8, 16, device=dev, dtype=torch.bfloat16)
    qkv = torch.randn(2, 1, 96, device=dev, generator=g, dtype=torch.bfloat16)
    ones, zeros = torch.ones(2, 8, device=dev), torch.zeros(2, 8, device=dev)
    q = rope_write(qkv, ones, zeros, cache, torch.tensor([0, 3], device=dev), 2)  # no rotation
    ok &= torch.equal(q[1, :, 0], qkv.view(2, 3, 2, 16)[1, 0]) and torch.equal(
        cache[1, 1, :, 3], qkv.view(2, 3, 2, 16)[1, 2])
    allowed = torch.ones(2, 1, 8, device=dev, dtype=torch.uint8)
    out = ring_attention(q, cache, allowed, torch.tensor([1, 4], device=dev))
    ref = F.scaled_dot_product_attention(q.float(), cache[0, :, :, :4].float(), cache[1, :, :, :4].float())
    ok &= torch.allclose(out[1].float(), ref[1], rtol=0.02, atol=0.02)
    steps = torch.zeros(2, 2, 2, 4, 16, device=dev, dtype=torch.bfloat16)
    steps[:, :, :, 0] = cache[:, :, :, 3]
    out = step_attention(qkv, steps, 1, 2)
    ref = F.scaled_dot_product_attention(q.float(), steps[0, :, :, :2].float(), steps[1, :, :, :2].float())
    ok &= torch.allclose(out.float(), ref, rtol=0.02, atol=0.02)
    logits = torch.randn(2, 64, device=dev, generator=g)  # greedy, and a top-1 draw
    drawn = sample(logits, torch.tensor([0.0, 0.8], device=dev), torch.tensor([5, 1], device=dev))
    ok &= torch.equal(drawn, logits.argmax(-1))
    # The text row's width (32768 in registers, the most threads a program gets): a
    # GPU short of registers or shared memory for it fails here, not in a conversation.
    logits = torch.randn(1, 32000, device=dev, generator=g)
    drawn = sample(logits, torch.tensor([0.8], device=dev), torch.tensor([1], device=dev))
    ok &= torch.equal(drawn, logits.argmax(-1))
    tables = [torch.randn(5, 16, device=dev, generator=g, dtype=torch.bfloat16) for _ in range(2)]
    got = Tables([types.SimpleNamespace(weight=t) for t in tables]).sum(
        torch.tensor([[1, -1], [4, 2]], device=dev))
    ok &= torch.equal(got[0], tables[0][1]) and torch.equal(got[1], tables[0][4] + tables[1][2])
    ends = torch.tensor([2, 9], device=dev)  # a ring of 8: row 1 has wrapped
    slots, allowed, filled, _ = ring_positions(ends, ends, torch.ones(2, dtype=torch.bool, device=dev),
                                               1, 8, 8, torch.ones(4, device=dev))
    ok &= slots.flatten().tolist() == [2, 1] and filled.tolist() == [3, 8] and allowed[:, 0].tolist() == [
        [1, 1, 1, 0, 0, 0, 0, 0], [1] * 8]
    w = torch.randn(24, 64, device=dev, generator=g, dtype=torch.bfloat16)
    y, total = linear(x, w, norm, d)
    ok &= torch.allclose(y.float(), F.linear(add_rms_norm(x, d, norm)[1], w).float(), rtol=0.02, atol=0.05)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    return ok


def norm_alpha(norm) -> torch.Tensor:
    """A moshi RMSNorm's scale as float32 (cached by depformer.keep_float32_scales; stored
    in the model's dtype, used in float32)."""
    alpha = norm.__dict__.get("_alpha32")
    return alpha if alpha is not None else norm.alpha.detach().view(-1).float()


def add_rms_norm(x: torch.Tensor, delta: torch.Tensor | None, norm) -> tuple[torch.Tensor, torch.Tensor]:
    """(x + delta, rms_norm(x + delta)) for x [..., N]; without delta (x, rms_norm(x))."""
    k = _kernels()
    triton, kernel = k.triton, k.add_rms_norm
    n = x.shape[-1]
    rows = x.numel() // n
    x = x.contiguous()
    total = torch.empty_like(x) if delta is not None else x
    out = torch.empty_like(x)
    block = triton.next_power_of_2(n)
    kernel[(rows,)](x, delta.contiguous() if delta is not None else x, total, out,
                    norm_alpha(norm), n, norm.eps, HAS_DELTA=delta is not None, BLOCK=block,
                    num_warps=8 if block >= 4096 else 4, **_pdl(x))
    return total, out


def rope_write(qkv: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
               cache: torch.Tensor, slot: torch.Tensor, heads: int) -> torch.Tensor:
    """qkv [B, T, 3 * H * D] of T positions; cos, sin [B, T, D / 2] float32 (or [B, D / 2]
    for T = 1); cache [2, B, H, capacity, D] with the last dimension contiguous; slot [B, T]
    (or [B]). Writes each rotated key and value at its slot and returns the rotated
    queries [B, H, T, D]."""
    k = _kernels()
    triton, kernel = k.triton, k.rope_write
    B, T = qkv.shape[:2]
    D = qkv.shape[-1] // (3 * heads)
    assert cache.stride(-1) == 1 and slot.numel() == B * T, (qkv.shape, slot.shape, cos.shape)
    q = torch.empty(B, heads, T, D, dtype=qkv.dtype, device=qkv.device)
    kernel[(B * T * heads,)](qkv.contiguous(), cos.contiguous(), sin.contiguous(), slot.contiguous(),
                             cache, q, heads, T, D // 2, cache.stride(0), cache.stride(1),
                             cache.stride(2), cache.stride(3),
                             BLOCK=triton.next_power_of_2(D // 2), num_warps=1, **_pdl(q))
    return q


def ring_positions(end: torch.Tensor, offset: torch.Tensor, run: torch.Tensor, T: int,
                   capacity: int, context: int, freqs: torch.Tensor):
    """For a call writing T positions into moshi's key/value ring (end [B]: its
    end_offset, offset [B]: the first position's, run [B] bool: rows that advance), as
    RingKVCache says: (slots [B, T] where the keys go, allowed [B, T, capacity] uint8
    slots each query may see, filled [B] slots written after the call, angle [B, T,
    D / 2] RoPE angles for `freqs` [D / 2]). One kernel for ~25 small ones."""
    k = _kernels()
    B = end.shape[0]
    dev = end.device
    slots = torch.empty(B, T, dtype=torch.long, device=dev)
    allowed = torch.empty(B, T, capacity, dtype=torch.uint8, device=dev)
    filled = torch.empty(B, dtype=torch.long, device=dev)
    angle = torch.empty(B, T, freqs.numel(), dtype=torch.float32, device=dev)
    block = min(1024, k.triton.next_power_of_2(capacity))
    k.ring_positions[(B, k.triton.cdiv(capacity, block))](
        end, offset, run.contiguous(), freqs, slots, allowed, filled, angle, capacity, context,
        freqs.numel(), T=T, BLOCK=block, BLOCK_F=k.triton.next_power_of_2(freqs.numel()), num_warps=4,
        **_pdl(end))
    return slots, allowed, filled, angle


def plain_embedding(m, lm) -> bool:
    """Whether `Tables` can read moshi's ScaledEmbedding `m`: a plain table (no norm, low
    rank or demuxed second stream) in the model's dtype on its device."""
    return type(m).__name__ == "ScaledEmbedding" and m.norm is None and m.low_rank is None \
        and not m.demux_second_stream and m.zero_idx == -1 and m.weight.dtype == lm.dtype \
        and m.weight.device == lm.device and m.weight.is_contiguous()


class Tables:
    """Embedding tables of one width summed by one kernel (embed_sum): a frame's 17 input
    streams were 5 kernels each and 16 adds. Tables are addressed from the first one's
    storage, so the offsets are taken again if a table's storage moves."""

    def __init__(self, modules) -> None:
        self.weights = [m.weight for m in modules]
        self._ptrs = None
        self._offsets()  # now, not in a CUDA graph's capture (it copies to the device)

    def _offsets(self):
        ptrs = tuple(w.data_ptr() for w in self.weights)
        if ptrs != self._ptrs:
            size = self.weights[0].element_size()
            assert all((p - ptrs[0]) % size == 0 for p in ptrs)
            dev = self.weights[0].device
            self.offsets = torch.tensor([(p - ptrs[0]) // size for p in ptrs], device=dev)
            self.rows = torch.tensor([w.shape[0] for w in self.weights], device=dev)
            self._ptrs = ptrs
        return self.offsets, self.rows

    def sum(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens [..., tables] (long) -> [..., dim]: table i's row tokens[..., i], summed
        in order as moshi's `x = x + emb(t)` is; a token of -1 adds zeros."""
        k = _kernels()
        offsets, rows = self._offsets()
        n, dim = len(self.weights), self.weights[0].shape[1]
        assert tokens.shape[-1] == n
        flat = tokens.reshape(-1, n)  # a view where it can be: a frame's column of tokens
        if n > 1 and flat.stride(1) != 1:
            flat = flat.contiguous()
        out = torch.empty(*tokens.shape[:-1], dim, dtype=self.weights[0].dtype, device=tokens.device)
        block = min(1024, k.triton.next_power_of_2(dim))
        k.embed_sum[(flat.shape[0], k.triton.cdiv(dim, block))](
            flat, self.weights[0], offsets, rows, out, dim, flat.stride(0), TABLES=n, BLOCK=block,
            num_warps=4, **_pdl(out))
        return out


def silu_mul(h: torch.Tensor) -> torch.Tensor:
    """silu(h[..., :F]) * h[..., F:] for h [..., 2F] (moshi's gate)."""
    k = _kernels()
    triton, kernel = k.triton, k.silu_mul
    f = h.shape[-1] // 2
    rows = h.numel() // (2 * f)
    out = torch.empty(*h.shape[:-1], f, dtype=h.dtype, device=h.device)
    block = 1024
    kernel[(triton.cdiv(f, block), rows)](h.contiguous(), out, f, BLOCK=block, num_warps=4, **_pdl(h))
    return out


RING_CHUNK = 64  # ring slots per program: many programs, each one load (H100 run 12)


def ring_attention(q: torch.Tensor, cache: torch.Tensor, allowed: torch.Tensor,
                   filled: torch.Tensor, time_major: bool = False) -> torch.Tensor:
    """Attention of T queries per row and head over the key/value ring: q [B, H, T, D],
    cache [2, B, H, capacity, D], allowed [B, T, capacity] (uint8, 1 where the query may
    see the slot), filled [B]: no slot from there on is allowed. Equal to
    `scaled_dot_product_attention(q, cache[0], cache[1], allowed[:, None])` where each
    query sees a slot, but reads only the slots before `filled`. Returns [B, H, T, D],
    or [B, T, H, D] with `time_major` (the out projection's input, no transpose)."""
    k = _kernels()
    B, H, T, D = q.shape
    cap = cache.shape[3]
    assert cache.stride(-1) == 1 and D == k.triton.next_power_of_2(D)
    chunks = k.triton.cdiv(cap, RING_CHUNK)
    m = torch.empty(B * H * T, chunks, dtype=torch.float32, device=q.device)
    l_sum = torch.empty_like(m)
    acc = torch.empty(B * H * T, chunks, D, dtype=torch.float32, device=q.device)
    k.ring_attention_part[(B * H * T, chunks)](
        q.contiguous(), cache, allowed, filled, m, l_sum, acc, H, T, cap,
        cache.stride(0), cache.stride(1), cache.stride(2), cache.stride(3), D ** -0.5,
        D=D, CHUNK=RING_CHUNK, num_warps=4, **_pdl(q))
    if time_major:
        out = torch.empty(B, T, H, D, dtype=q.dtype, device=q.device)
        strides = (out.stride(0), out.stride(2), out.stride(1))
    else:
        out = torch.empty(B, H, T, D, dtype=q.dtype, device=q.device)
        strides = out.stride()[:3]
    k.ring_attention_join[(B * H * T,)](m, l_sum, acc, filled, out, chunks, H, T, *strides, D=D,
                                        C=k.triton.next_power_of_2(chunks), CHUNK=RING_CHUNK,
                                        num_warps=4, **_pdl(q))
    return out


def step_attention(qkv: torch.Tensor, cache: torch.Tensor, step: int, heads: int) -> torch.Tensor:
    """A depformer step's attention: qkv [B, 1, 3 * H * D] of this step; cache [2, B, H,
    steps, D] holding the keys and values of the steps before. Writes this step's into
    it and returns attention over steps 0..step, [B, H, 1, D]."""
    k = _kernels()
    B = qkv.shape[0]
    D = qkv.shape[-1] // (3 * heads)
    assert cache.stride(-1) == 1 and D == k.triton.next_power_of_2(D)
    out = torch.empty(B, heads, 1, D, dtype=qkv.dtype, device=qkv.device)
    k.step_attention[(B * heads,)](
        qkv.contiguous(), cache, out, step, heads, cache.stride(0), cache.stride(1),
        cache.stride(2), cache.stride(3), D ** -0.5, D=D,
        S=max(2, k.triton.next_power_of_2(cache.shape[3])), num_warps=1, **_pdl(out))
    return out


def sample(logits: torch.Tensor, temperature: torch.Tensor, top_k: torch.Tensor,
           noise: torch.Tensor | None = None, into: torch.Tensor | None = None) -> torch.Tensor:
    """Tokens [B] drawn from logits [B, V] as moshi's `sample_token` draws them: softmax
    at each row's temperature over its top_k logits (0: all of them), a draw by
    argmax(p / noise) with noise ~ Exp(1); a row with temperature <= 0 takes the argmax.
    temperature [B] (float), top_k [B] (integer), any strides. One kernel instead of
    torch's sort, gather, softmax and casts (~45 kernels a frame); `noise` [B, V] float32
    for tests, drawn here otherwise. `into` [B] (long, any stride): written in place and
    returned, keeping each row's value where it is >= 0 (a forced token)."""
    k = _kernels()
    B, V = logits.shape
    logits = logits.contiguous()
    if noise is None:
        noise = torch.empty(B, V, dtype=torch.float32, device=logits.device).exponential_(1)
    out = into if into is not None else torch.empty(B, dtype=torch.long, device=logits.device)
    block = k.triton.next_power_of_2(V)
    k.sample_top_k[(B,)](logits, noise.contiguous(), temperature, top_k, out, V,
                         temperature.stride(0), top_k.stride(0), out.stride(0),
                         KEEP=into is not None, BITS=16 if logits.dtype == torch.bfloat16 else 32,
                         BLOCK=block,
                         num_warps=max(4, min(32, block // 1024)), **_pdl(out))
    return out


def plain_linear(m, lm) -> bool:
    """Whether `linear` can stand in for module `m` of model `lm`: a bias-free nn.Linear
    with its weights in the model's dtype on its device (not a quantized mode's module,
    not an offloaded layer)."""
    return type(m) is torch.nn.Linear and m.bias is None and m.weight.dtype == lm.dtype \
        and m.weight.device == lm.device and m.weight.is_contiguous()


# (BLOCK_N, BLOCK_K, warps) of `linear`; a GEMV of a few MB is latency-bound: many
# programs, each with all its loads in flight. The best or within 0.5 µs of it for each
# depformer shape on the H100 (bench/linear_gpu.py, docs/PERFORMANCE.md).
LINEAR_BLOCKS = (4, 512, 4)


def linear(x: torch.Tensor, weight: torch.Tensor, norm=None, delta: torch.Tensor | None = None,
           gate: bool = False, gelu: bool = False, residual: torch.Tensor | None = None,
           scale: torch.Tensor | None = None, bias: torch.Tensor | None = None,
           blocks: tuple[int, int, int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """`F.linear(h, weight)` for each row of x [..., K] (or [..., 2K] with `gate`), with
    h made in the same kernel: `norm`(x + delta) for moshi's RMSNorm (as add_rms_norm)
    or torch's affine LayerNorm (no delta), silu_mul(x) with `gate`, gelu(x) with `gelu`, else
    x + delta (or x); then + `bias`, then `residual` + `scale` * out when given. Returns
    (out [..., N], x + delta); the second is x itself without a delta. `blocks`: (BLOCK_N,
    BLOCK_K, warps), LINEAR_BLOCKS by default."""
    k = _kernels()
    N, K = weight.shape
    x = x.contiguous()
    rows = x.numel() // (2 * K if gate else K)
    out = torch.empty(*x.shape[:-1], N, dtype=x.dtype, device=x.device)
    total = torch.empty_like(x) if delta is not None else x
    layer_norm = isinstance(norm, torch.nn.LayerNorm)
    assert not (layer_norm and delta is not None)
    pro = 3 if layer_norm else 1 if norm is not None else 2 if gate else 4 if gelu else 0
    alpha = norm.weight if layer_norm else norm_alpha(norm) if norm is not None else x
    # Triton's CPU interpreter (the tests) runs one program at a time: few, wide ones.
    block_n, block_k, warps = blocks or (LINEAR_BLOCKS if x.is_cuda else (128, 1024, 4))
    k.gemv[(k.triton.cdiv(N, block_n), rows)](
        x, delta.contiguous() if delta is not None else x, total, alpha,
        norm.bias if layer_norm else x, residual.contiguous() if residual is not None else x,
        scale if scale is not None else x, weight, bias if bias is not None else x, out, N,
        norm.eps if norm is not None else 0.0, K=K, PRO=pro, HAS_DELTA=delta is not None,
        HAS_RES=residual is not None, HAS_SCALE=scale is not None, HAS_BIAS=bias is not None, BLOCK_N=block_n,
        BLOCK_K=min(block_k, k.triton.next_power_of_2(K)), num_warps=warps, **_pdl(out))
    return out, total
