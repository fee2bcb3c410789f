"""A lean single-frame pass of moshi's main transformer, on moshi's own weights and
streaming state.

moshi recomputes RoPE tables, ring-cache positions and the attention mask in every
layer; for one frame they are the same for all 32 layers. Here they are computed once
per frame and each layer runs about twenty kernels instead of about fifty. The KV ring
cache and every offset are moshi's own tensors, updated exactly as moshi does, so the
moshi path (used for multi-frame prefills) and this one interleave freely.
tests/unit/test_golden_traces.py runs both.
"""

from __future__ import annotations

import math

from .torch_env import torch

import torch.nn.functional as F
from moshi.models.lm import LMModel

from . import fused, offload
from .depformer import _rms_norm, end_norm, keep_float32_scales


def supported(lm: LMModel) -> bool:
    from moshi.modules.transformer import RMSNorm

    tr = lm.transformer
    if tr.positional_embedding != "rope" or tr.rope is None or not tr.rope.interleave:
        return False
    for layer in tr.layers:
        attn = layer.self_attn
        if not isinstance(layer.norm1, RMSNorm) or not isinstance(layer.norm2, RMSNorm):
            return False
        if not isinstance(layer.layer_scale_1, torch.nn.Identity) or layer.cross_attention is not None:
            return False
        if not isinstance(layer.layer_scale_2, torch.nn.Identity) or layer.gating is None:
            return False
        if isinstance(layer.gating, torch.nn.ModuleList) or attn.kv_repeat != 1 or attn.weights_per_step:
            return False
        if not attn.causal or attn.context is None:
            return False
    return True


def offset_tensors(lm: LMModel) -> list[torch.Tensor]:
    """Every per-row position counter of moshi's streaming state for the trunk."""
    tensors = [lm.transformer._streaming_state.offsets]
    for layer in lm.transformer.layers:
        state = layer.self_attn._streaming_state
        tensors += [state.offset, state.kv_cache.end_offset]
    return tensors


class Trunk:
    """Call `step` only while `lm` is streaming; states are read at each call."""

    def __init__(self, lm: LMModel, offsets) -> None:
        self.lm = lm
        self._offsets = offsets  # returns moshi's per-row position counters
        self._stream = offload.stream_of(lm)  # streamed layer weights (CPU offload), or None
        attn = lm.transformer.layers[0].self_attn
        self.heads = attn.num_heads
        self.head_dim = attn.embed_dim // attn.num_heads
        self.context = attn.context
        half = self.head_dim // 2
        ds = torch.arange(half, device=lm.device, dtype=torch.float32)
        self.freqs = torch.exp(ds * (-math.log(lm.transformer.rope.max_period) * 2 / self.head_dim))
        keep_float32_scales([n for layer in lm.transformer.layers for n in (layer.norm1, layer.norm2)])
        self.fused = fused.available(lm.device) and all(
            layer.gating.activation is F.silu for layer in lm.transformer.layers)
        self.linear = self.fused and fused.LINEAR and fused.TRUNK_LINEAR and all(
            fused.plain_linear(m, lm) for layer in lm.transformer.layers for m in (
                layer.self_attn.in_projs[0], layer.gating.linear_in, layer.gating.linear_out))
        self.out_linear = self.fused and fused.LINEAR and all(
            fused.plain_linear(layer.self_attn.out_projs[0], lm) for layer in lm.transformer.layers)

    def step(self, x: torch.Tensor, norm=None) -> torch.Tensor:
        """Run one frame's input [B, 1, dim] through all layers, then `norm` if given."""
        layers = self.lm.transformer.layers
        first = layers[0].self_attn._streaming_state
        kv0 = first.kv_cache
        B, cap = x.shape[0], kv0.capacity
        end = kv0.end_offset
        run = first.exec_mask.long()
        if self.fused and fused.RING_ATTENTION:  # the positions in one kernel
            slot, allowed, filled, angle = fused.ring_positions(
                end, first.offset, first.exec_mask, 1, cap, self.context, self.freqs)
            # Slots from end + run on are empty: ring_attention never reads them.
            x = self._fused_layers(x, norm, torch.cos(angle), torch.sin(angle), slot, None,
                                   (allowed, filled))
        else:
            # Slot positions after this frame's write, exactly as moshi's RingKVCache says.
            idx = torch.arange(cap, device=x.device)
            slot = end % cap
            delta = idx[None] - slot[:, None]
            pos_k = torch.where(delta <= 0, end[:, None] + delta, end[:, None] + delta - cap)
            pos_k = torch.where(idx[None] >= (end + run)[:, None], -1, pos_k)
            gap = first.offset[:, None] - pos_k
            mask = ((pos_k >= 0) & (gap >= 0) & (gap < self.context))[:, None, None]
            angle = self.freqs * first.offset.float()[:, None]
            if self.fused:
                x = self._fused_layers(x, norm, torch.cos(angle), torch.sin(angle), slot, mask, None)
            else:
                rot = torch.polar(torch.ones_like(angle), angle)[:, None, None]  # [B, 1, 1, D/2]
                where = slot.view(1, B, 1, 1, 1).expand(2, B, self.heads, 1, self.head_dim)
                for i, layer in enumerate(layers):
                    self._fetch(i)
                    x = self._layer(layer, x, rot, where, mask)
                x = x if norm is None else norm(x)
        offsets = self._offsets()
        torch._foreach_add_(offsets, [run] * len(offsets))
        return x

    def _fused_layers(self, x, norm, cos, sin, slot, mask, seen):
        """All layers in fused kernels; `seen`: ring_attention's (allowed, filled), or None
        for torch's attention under `mask`."""
        fused_layer = self._linear_layer if self.linear and x.shape[0] <= 2 else self._fused_layer
        delta = None
        for i, layer in enumerate(self.lm.transformer.layers):
            self._fetch(i)
            x, delta = fused_layer(layer, x, delta, cos, sin, slot, mask, seen)
        return end_norm(x, delta, norm)

    def prefill(self, row: int, x: torch.Tensor) -> None:
        """Fill positions 0..T-1 of a freshly reset `row` from inputs [T, dim].

        Only that row is computed and written, so sessions running in other rows are
        neither slowed by a batch-wide pass nor touched.
        """
        T, B, H, D = x.shape[0], 1, self.heads, self.head_dim
        angle = torch.arange(T, device=x.device, dtype=torch.float32)[:, None] * self.freqs
        rot = torch.polar(torch.ones_like(angle), angle)  # [T, D/2]
        h = x[None]
        for i, layer in enumerate(self.lm.transformer.layers):
            self._fetch(i)
            attn = layer.self_attn
            cache = attn._streaming_state.kv_cache.cache
            qkv = attn.in_projs[0](_rms_norm(h, layer.norm1))
            qkv = qkv.view(B, T, 3, H, D).permute(2, 0, 3, 1, 4)  # [3, 1, H, T, D]
            qk = torch.view_as_complex(qkv[:2].float().reshape(2, B, H, T, D // 2, 2))
            qk = torch.view_as_real(qk * rot).reshape(2, B, H, T, D).to(h.dtype)
            cache[0, row, :, :T] = qk[1, 0]
            cache[1, row, :, :T] = qkv[2, 0]
            out = F.scaled_dot_product_attention(qk[0], qk[1], qkv[2], is_causal=True)
            h = h + attn.out_projs[0](out.transpose(1, 2).reshape(B, T, H * D))
            gating = layer.gating
            g = gating.linear_in(_rms_norm(h, layer.norm2)).view(B, T, 2, -1)
            h = h + gating.linear_out(gating.activation(g[..., 0, :]) * g[..., 1, :])
        for offsets in self._offsets():
            offsets[row] = T

    def _fetch(self, i: int) -> None:
        # The lean passes call no layer's forward, so moshi's pre-hooks do not fire here.
        if self._stream is not None:
            self._stream.fetch(i)

    def _fused_layer(self, layer, x, delta, cos, sin, slot, mask, seen):
        """`_layer` in fused kernels (fused.py). The residual add of a layer's last output
        is left to the next norm: returns (x, delta), where x + delta is the output."""
        attn = layer.self_attn
        B = x.shape[0]
        x, h = fused.add_rms_norm(x, delta, layer.norm1)
        cache = attn._streaming_state.kv_cache.cache  # [2, B, H, cap, D]
        q = fused.rope_write(attn.in_projs[0](h), cos, sin, cache, slot, self.heads)
        if seen is None:
            out = F.scaled_dot_product_attention(q, cache[0], cache[1], mask)
        else:
            out = fused.ring_attention(q, cache, *seen)
        x, h = fused.add_rms_norm(x, self._out(attn, out.reshape(B, 1, -1)), layer.norm2)
        gating = layer.gating
        return x, gating.linear_out(fused.silu_mul(gating.linear_in(h)))

    def _out(self, attn, out: torch.Tensor) -> torch.Tensor:
        if self.out_linear and fused.TRUNK_OUT_LINEAR and out.shape[0] <= 2:
            blocks = fused.TRUNK_OUT_BLOCKS if out.is_cuda else None  # the interpreter: its own
            return fused.linear(out, attn.out_projs[0].weight, blocks=blocks)[0]
        return attn.out_projs[0](out)

    def _linear_layer(self, layer, x, delta, cos, sin, slot, mask, seen):
        """`_fused_layer` with the norms and the gate inside fused.linear's GEMVs."""
        attn, gating = layer.self_attn, layer.gating
        B = x.shape[0]
        qkv, x = fused.linear(x, attn.in_projs[0].weight, layer.norm1, delta)
        cache = attn._streaming_state.kv_cache.cache  # [2, B, H, cap, D]
        q = fused.rope_write(qkv, cos, sin, cache, slot, self.heads)
        if seen is None:
            out = F.scaled_dot_product_attention(q, cache[0], cache[1], mask)
        else:
            out = fused.ring_attention(q, cache, *seen)
        h, x = fused.linear(x, gating.linear_in.weight, layer.norm2, self._out(attn, out.reshape(B, 1, -1)))
        return x, fused.linear(h, gating.linear_out.weight, gate=True)[0]

    def _layer(self, layer, x, rot, where, mask):
        attn = layer.self_attn
        cache = attn._streaming_state.kv_cache.cache  # [2, B, H, cap, D]
        B, H, D = x.shape[0], self.heads, self.head_dim
        qkv = attn.in_projs[0](_rms_norm(x, layer.norm1)).view(B, 3, H, D)
        qk = torch.view_as_complex(qkv[:, :2].float().reshape(B, 2, H, D // 2, 2))
        qk = torch.view_as_real(qk * rot).reshape(B, 2, H, D).to(x.dtype)
        kv = torch.stack([qk[:, 1], qkv[:, 2]])[:, :, :, None]  # [2, B, H, 1, D]
        cache.scatter_(3, where, kv)
        out = F.scaled_dot_product_attention(qk[:, 0, :, None], cache[0], cache[1], mask)
        x = x + attn.out_projs[0](out.reshape(B, 1, H * D))
        gating = layer.gating
        h = gating.linear_in(_rms_norm(x, layer.norm2)).view(B, 1, 2, -1)
        h = gating.activation(h[..., 0, :]) * h[..., 1, :]
        return x + gating.linear_out(h)
