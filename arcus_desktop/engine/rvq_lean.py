"""Mimi's quantizer (a split residual vector quantizer) in a few GPU kernels.

Every 80 ms frame encodes the user's audio into 8 codes (32 with speech-to-text) and
decodes the model's 8. moshi's quantizer does each code with torch's cdist (norms, a
matmul, a clamp, a square root), an argmin, a lookup and a subtraction, about a dozen
small kernels a code; its decode is a lookup and an add a code and two projections.
Here an encode is one projection (both groups' in one matmul), one kernel a code (the
residual made from the codes decided so far, exact distances, the nearest entry by an
atomic min) and a mask; a decode is one kernel for the lookups and one matmul.

Codes equal moshi's except where two entries are within float32 rounding of each other:
moshi's distances come from norms and a matmul, these from the differences
(tests/unit/test_fused_kernels.py). `install(quantizer)` puts the pass on a loaded
codec's quantizer; it runs in float32 where fused.available says the kernels run, else
moshi's. ARCUS_LEAN_RVQ=0 turns it off (benchmarks compare both).
"""

from __future__ import annotations

import functools
import logging
import os
import types

from .torch_env import torch

import torch.nn.functional as F

from . import fused

log = logging.getLogger(__name__)

ENABLED = os.environ.get("ARCUS_LEAN_RVQ", "1") != "0"
BLOCK_E = 16  # codebook entries per program: 128 programs for Mimi's 2048


def install(quantizer) -> None:
    if "_moshi_encode" in quantizer.__dict__ or not _supported(quantizer):
        return
    quantizer._moshi_encode, quantizer._moshi_decode = quantizer.encode, quantizer.decode
    quantizer.encode = types.MethodType(_encode, quantizer)
    quantizer.decode = types.MethodType(_decode, quantizer)


def _supported(q) -> bool:
    """moshi's split quantizer with 1x1 projections and codebooks of one shape [entries,
    D], D a power of two (one program holds a row's D values)."""
    from moshi.quantization.vq import ResidualVectorQuantizer, SplitResidualVectorQuantizer

    groups = (getattr(q, "rvq_first", None), getattr(q, "rvq_rest", None))
    if type(q) is not SplitResidualVectorQuantizer or not all(type(g) is ResidualVectorQuantizer for g in groups):
        return False
    projs = [p for g in groups for p in (g.input_proj, g.output_proj)]
    if not all(type(p) is torch.nn.Conv1d and p.kernel_size == (1,) and p.bias is None and p.groups == 1
               for p in projs):
        return False
    layers = [layer for g in groups for layer in g.vq.layers]
    shapes = {layer._codebook.embedding_sum.shape for layer in layers}
    if len(shapes) != 1 or not all(isinstance(p, torch.nn.Identity) for layer in layers
                                   for p in (layer.project_in, layer.project_out)):
        return False
    D = next(iter(shapes))[-1]
    return D & (D - 1) == 0 and all(g.output_proj.in_channels == D for g in groups)


def _runs(q, x: torch.Tensor) -> bool:
    return ENABLED and x.device.type == q.rvq_first.input_proj.weight.device.type and \
        q.rvq_first.input_proj.weight.dtype == torch.float32 and fused.available(x.device) \
        and fused.codec_kernels() is not None and _works(x.device)


@functools.cache
def _works(device: torch.device) -> bool:
    """The kernels compiled and checked once per device against torch's nearest entry
    (a GPU without 64-bit atomics fails here, not in a conversation); else moshi's."""
    k = fused.codec_kernels()
    try:
        g = torch.Generator(device=device).manual_seed(0)
        emb = torch.randn(2, 40, 16, device=device, generator=g)
        proj = torch.randn(3, 32, device=device, generator=g)
        keys = torch.full((3, 2), torch.iinfo(torch.int64).max, dtype=torch.int64, device=device)
        for code in range(2):
            k.rvq_nearest[(3, 3)](proj, emb, keys, code, 0, 0, 2, 40, 32, 0, D=16, BLOCK_E=16)
        first = (emb[0][None] - proj[:, None, :16]).square().sum(-1).argmin(-1)
        rest = proj[:, :16] - emb[0][first]
        second = (emb[1][None] - rest[:, None]).square().sum(-1).argmin(-1)
        ok = torch.equal(keys & 0xFFFFFFFF, torch.stack([first, second], 1))
    except Exception as e:  # a Triton that cannot build these kernels for this GPU
        log.warning("quantizer kernels unavailable, using moshi's: %s", e)
        return False
    if not ok:
        log.warning("quantizer kernels disagree with torch on this device; using moshi's")
    return ok


def _tables(q) -> types.SimpleNamespace:
    """Every codebook in one tensor [layers, entries, D] (the layers' own lookup tables
    become views into it: no second copy), the two groups' projections side by side."""
    layers = [layer._codebook for g in (q.rvq_first, q.rvq_rest) for layer in g.vq.layers]
    t = q.__dict__.get("_arcus_tables")
    if t is not None and all(c._embedding is not None and c._embedding.data_ptr() == v.data_ptr()
                             for c, v in zip(layers, t.views)):
        return t
    with torch.no_grad():
        emb = torch.stack([c.embedding for c in layers]).contiguous()
        for c, table in zip(layers, emb):
            c._embedding = table
        f, r = q.rvq_first, q.rvq_rest
        t = types.SimpleNamespace(
            emb=emb, views=list(emb), first_layers=len(f.vq.layers),
            proj_in=torch.cat([f.input_proj.weight[..., 0], r.input_proj.weight[..., 0]]),
            proj_out=torch.cat([f.output_proj.weight[..., 0], r.output_proj.weight[..., 0]], 1))
    q.__dict__["_arcus_tables"] = t
    return t


def _encode(q, x: torch.Tensor) -> torch.Tensor:
    if not _runs(q, x) or x.dim() != 3 or x.shape[-1] == 0 or x.dtype != torch.float32:
        return q._moshi_encode(x)
    k, t = fused.codec_kernels(), _tables(q)
    B, C, T = x.shape
    layers, entries, D = t.emb.shape
    n_first = q.rvq_first.n_q
    n_codes = n_first + (q.rvq_rest.n_q if q.n_q > q.n_q_semantic else 0)
    proj = F.linear(x.transpose(1, 2).reshape(B * T, C), t.proj_in)  # [rows, 2D]: first | rest
    keys = torch.full((B * T, n_codes), torch.iinfo(torch.int64).max, dtype=torch.int64, device=x.device)
    # Triton's CPU interpreter (the tests) runs one program at a time: one per code.
    block = BLOCK_E if x.is_cuda else k.triton.next_power_of_2(entries)
    grid = (B * T, k.triton.cdiv(entries, block))
    for code in range(n_codes):
        first = code < n_first
        k.rvq_nearest[grid](proj, t.emb, keys, code, 0 if first else n_first,
                            0 if first else t.first_layers, n_codes, entries, 2 * D,
                            0 if first else D, D=D, BLOCK_E=block, num_warps=4)
    return (keys & 0xFFFFFFFF).view(B, T, n_codes).transpose(1, 2)


def _decode(q, codes: torch.Tensor) -> torch.Tensor:
    if not _runs(q, codes) or codes.dim() != 3 or codes.shape[-1] == 0:
        return q._moshi_decode(codes)
    k, t = fused.codec_kernels(), _tables(q)
    B, K, T = codes.shape
    layers, entries, D = t.emb.shape
    sums = torch.empty(B * T, 2 * D, dtype=torch.float32, device=codes.device)
    k.rvq_sum[(B * T,)](codes, t.emb, sums, K, T, q.n_q_semantic, t.first_layers, entries,
                        codes.stride(0), codes.stride(1), codes.stride(2), D=D, num_warps=2)
    return F.linear(sums, t.proj_out).view(B, T, -1).transpose(1, 2).contiguous()
