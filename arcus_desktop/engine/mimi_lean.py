"""A lean streaming pass of Mimi's two transformers (encoder and decoder), on moshi's own
weights and streaming state.

Each 80 ms frame runs both transformers (8 layers each) on 2 positions. moshi's
generic streaming attention recomputes RoPE tables, ring-cache positions and the mask
in every layer (about 40 small GPU kernels a layer), and its float32 attention goes to
a kernel that took 32 us for 2 queries (docs/PERFORMANCE.md). Here tables and mask are
computed once per call, keys and values are written with one scatter, and attention
reads only the ring's filled slots (fused.ring_attention) where the fused kernels run,
else is three small matmul-shaped kernels; there each layer's projections go through
fused.linear too (LayerNorm, GELU and the scaled residuals inside its GEMVs). Every
offset is moshi's own tensor, updated as moshi updates it, so the two paths interleave
freely (tests/unit/test_mimi_lean.py).

`install(mimi)` puts the pass on a loaded codec; it runs only while streaming and where
the layers have the shape implemented, else moshi's forward runs.
ARCUS_LEAN_MIMI=0 turns it off (benchmarks compare both).
"""

from __future__ import annotations

import math
import os
import types

from .torch_env import torch

from . import fused, rvq_lean, seanet_lean

ENABLED = os.environ.get("ARCUS_LEAN_MIMI", "1") != "0"
# The projections through fused.linear where it runs (ARCUS_MIMI_LINEAR=0: torch's).
LINEAR = os.environ.get("ARCUS_MIMI_LINEAR", "1") != "0"


def _supported(tr) -> bool:
    from moshi.modules.transformer import LayerScale

    if tr.positional_embedding != "rope" or tr.rope is None or not tr.rope.interleave:
        return False
    for layer in tr.layers:
        attn = layer.self_attn
        if layer.cross_attention is not None or layer.gating is not None or layer.skip_self_attn:
            return False
        if not isinstance(layer.norm1, torch.nn.LayerNorm) or not isinstance(layer.norm2, torch.nn.LayerNorm):
            return False
        if not all(isinstance(s, (LayerScale, torch.nn.Identity))
                   for s in (layer.layer_scale_1, layer.layer_scale_2)):
            return False
        if attn.kv_repeat != 1 or attn.weights_per_step or not attn.causal or attn.context is None:
            return False
        if len(attn.in_projs) != 1 or attn.in_projs[0].bias is not None or attn.out_projs[0].bias is not None:
            return False
    return True


def install(mimi) -> None:
    """Route both of `mimi`'s streaming transformers through the lean pass, its quantizer
    through rvq_lean's kernels and its convolutions through seanet_lean's."""
    rvq_lean.install(mimi.quantizer)
    seanet_lean.install(mimi)
    for projected in (mimi.encoder_transformer, mimi.decoder_transformer):
        tr = projected.transformer
        if "_moshi_forward" in tr.__dict__ or not _supported(tr):
            continue
        tr._moshi_forward = tr.forward
        tr.forward = types.MethodType(_forward, tr)


def _forward(tr, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    state = tr._streaming_state
    if not ENABLED or state is None or args or kwargs:
        return tr._moshi_forward(x, *args, **kwargs)
    layers = tr.layers
    first = layers[0].self_attn
    mha = first._streaming_state
    kv = mha.kv_cache
    B, T, C = x.shape
    dev = x.device
    run = mha.exec_mask.long()
    in_kernels = LINEAR and fused.LINEAR and B * T <= 4 and fused.available(dev) and _plain(tr, x.dtype)
    if in_kernels and fused.RING_ATTENTION:  # positions, RoPE and the ring write in kernels
        slots, allowed, filled, angle = fused.ring_positions(
            kv.end_offset, mha.offset, mha.exec_mask, T, kv.capacity, first.context,
            _freqs(tr, C // first.num_heads, dev))
        rope = (torch.cos(angle), torch.sin(angle), slots)
        for layer in layers:
            x = _linear_layer(layer, x, rope, (allowed, filled))
    else:
        x = _torch_positions(tr, x, run, in_kernels)
    counters = [state.offsets]
    for layer in layers:
        attn = layer.self_attn._streaming_state
        counters += [attn.offset, attn.kv_cache.end_offset]
        attn.offset_cpu += T
        layer._streaming_state.offset_cpu += T
    torch._foreach_add_(counters, [T * run] * len(counters))
    return x


def _freqs(tr, D: int, dev) -> torch.Tensor:
    """RoPE's frequencies as moshi's apply_rope computes them (float32), kept per device."""
    cached = tr.__dict__.setdefault("_arcus_freqs", {})
    if dev not in cached:
        ds = torch.arange(D // 2, device=dev, dtype=torch.float32)
        cached[dev] = torch.exp(ds * (-math.log(tr.max_period) * 2 / D))
    return cached[dev]


def _torch_positions(tr, x: torch.Tensor, run: torch.Tensor, in_kernels: bool) -> torch.Tensor:
    """The layers, with the positions, masks and RoPE made by torch's kernels (a batch, or
    torch's attention)."""
    first = tr.layers[0].self_attn
    mha = first._streaming_state
    kv = mha.kv_cache
    B, T, C = x.shape
    H, cap = first.num_heads, kv.capacity
    D = C // H
    dev = x.device
    t = torch.arange(T, device=dev)
    end = kv.end_offset
    # Where this call's keys go, and every slot's position after the write, exactly as
    # moshi's RingKVCache.complete says.
    slots = (end[:, None] + t) % cap  # [B, T]
    idx = torch.arange(cap, device=dev)
    last = end[:, None] + T - 1
    delta = idx[None] - last % cap
    pos_k = torch.where(delta <= 0, last + delta, last + delta - cap)
    pos_k = torch.where(idx[None] >= (end + T * run)[:, None], -1, pos_k)  # [B, cap]
    gap = (mha.offset[:, None] + t)[:, :, None] - pos_k[:, None, :]  # [B, T, cap]
    allowed = (pos_k[:, None] >= 0) & (gap >= 0) & (gap < first.context)
    if fused.RING_ATTENTION and fused.available(dev):  # reads only the ring's filled slots
        seen = (allowed.to(torch.uint8), torch.clamp(end + T * run, max=cap))
    else:
        bias = torch.zeros(allowed.shape, device=dev, dtype=x.dtype).masked_fill_(~allowed, -math.inf)
        seen = bias[:, None].expand(B, H, T, cap).reshape(B * H, T, cap)
    # RoPE as moshi's apply_rope computes it (float32), once for all layers.
    ts = (mha.offset.float()[:, None] + t.float())[:, :, None, None]  # [B, T, 1, 1]
    angle = _freqs(tr, D, dev) * ts
    rot = torch.complex(torch.cos(angle), torch.sin(angle))[:, :, None]  # [B, T, 1, 1, D/2]
    where = slots[None, :, None, :, None].expand(2, B, H, T, D)
    for layer in tr.layers:
        attn = layer.self_attn
        if in_kernels:  # fused.linear's projections around torch's attention
            out = _attend(attn, fused.linear(x, attn.in_projs[0].weight, layer.norm1)[0], rot, where, seen)
            x = _linear_rest(layer, x, out)
            continue
        x = _residual(x, layer.layer_scale_1, _attention(attn, layer.norm1(x), rot, where, seen))
        x = _residual(x, layer.layer_scale_2,
                      layer.linear2(layer.activation(layer.linear1(layer.norm2(x)))))
    return x


def _plain(tr, dtype) -> bool:
    """Whether fused.linear can run these layers: plain weights in x's dtype, affine
    LayerNorms, GELU (looked at once per dtype)."""
    known = tr.__dict__.setdefault("_arcus_plain", {})
    if dtype not in known:
        known[dtype] = _plain_layers(tr, dtype)
    return known[dtype]


def _plain_layers(tr, dtype) -> bool:
    import torch.nn.functional as F

    return all(fused.plain_linear(m, types.SimpleNamespace(dtype=dtype, device=m.weight.device))
               for layer in tr.layers for m in (layer.self_attn.in_projs[0], layer.self_attn.out_projs[0],
                                                layer.linear1, layer.linear2)) and all(
        n.bias is not None and n.weight is not None for layer in tr.layers for n in (layer.norm1, layer.norm2)) \
        and all(layer.activation is F.gelu for layer in tr.layers)


def _linear_layer(layer, x, rope, seen):
    """A layer in fused kernels: LayerNorm + qkv, RoPE + the ring write, the attention,
    then _linear_rest. `rope`: (cos, sin, slots) and `seen`: (allowed, filled), from
    fused.ring_positions."""
    attn = layer.self_attn
    B, T = x.shape[:2]
    cache = attn._streaming_state.kv_cache.cache
    cos, sin, slots = rope
    q = fused.rope_write(fused.linear(x, attn.in_projs[0].weight, layer.norm1)[0], cos, sin, cache,
                         slots, attn.num_heads)
    return _linear_rest(layer, x, fused.ring_attention(q, cache, *seen, time_major=True).view(B, T, -1))


def _linear_rest(layer, x, out):
    """After the attention `out` [B, T, C]: out + scaled residual, LayerNorm + linear1,
    GELU + linear2 + scaled residual, each one fused.linear."""
    attn = layer.self_attn
    x = fused.linear(out, attn.out_projs[0].weight, residual=x, scale=_scale(layer.layer_scale_1))[0]
    h = fused.linear(x, layer.linear1.weight, layer.norm2)[0]
    return fused.linear(h, layer.linear2.weight, gelu=True, residual=x, scale=_scale(layer.layer_scale_2))[0]


def _scale(layer_scale):
    return None if isinstance(layer_scale, torch.nn.Identity) else layer_scale.scale


def _residual(x, scale, update):
    """x + scale(update) in one kernel (moshi: a product, then a sum)."""
    if isinstance(scale, torch.nn.Identity):
        return x + update
    return torch.addcmul(x, scale.scale, update)


def _attention(attn, h, rot, where, seen):
    """`seen`: fused.ring_attention's (allowed, filled), or an additive mask [B * H, T,
    capacity] for attention in matmuls."""
    return attn.out_projs[0](_attend(attn, attn.in_projs[0](h), rot, where, seen))


def _attend(attn, qkv, rot, where, seen):
    """Attention from the projected qkv [B, T, 3 * C], before the out projection."""
    B, T = qkv.shape[:2]
    H = attn.num_heads
    C = qkv.shape[-1] // 3
    D = C // H
    qkv = qkv.view(B, T, 3, H, D)
    # moshi's interleaved RoPE (float32) on q and k at once: pairs as complex numbers.
    qk = torch.view_as_real(torch.view_as_complex(qkv[:, :, :2].float().unflatten(-1, (-1, 2))) * rot)
    qk = qk.flatten(-2).to(qkv.dtype)  # [B, T, 2, H, D]
    cache = attn._streaming_state.kv_cache.cache  # [2, B, H, cap, D]
    kv = torch.stack([qk[:, :, 1], qkv[:, :, 2]])  # [2, B, T, H, D]
    cache.scatter_(3, where, kv.transpose(2, 3).to(cache.dtype))
    q = qk[:, :, 0].transpose(1, 2)  # [B, H, T, D]
    if isinstance(seen, tuple):
        out = fused.ring_attention(q, cache, *seen)
    else:
        keys, values = cache[0].flatten(0, 1), cache[1].flatten(0, 1)  # [B * H, cap, D]
        scores = torch.baddbmm(seen, q.reshape(B * H, T, D), keys.transpose(1, 2), alpha=1 / math.sqrt(D))
        out = torch.bmm(torch.softmax(scores, dim=-1), values)  # [B * H, T, D]
    return out.view(B, H, T, D).transpose(1, 2).reshape(B, T, C)
