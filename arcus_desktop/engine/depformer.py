"""A lean forward pass of moshi's depformer for one frame, with moshi's own weights.

moshi runs the depformer through its general streaming transformer: a ring KV cache,
position masks and per-call bookkeeping, about 45 small GPU kernels per layer and step.
Within a frame the step index is a Python constant, so here the KV cache is a plain
tensor sliced to the steps so far (no mask, no ring) and each layer needs about a
dozen kernels. tests/unit/test_lean_passes.py checks it against moshi's forward.
"""

from __future__ import annotations

from .torch_env import torch

import torch.nn.functional as F
from moshi.models.lm import LMModel

from . import fused


def _rms_norm(x: torch.Tensor, norm) -> torch.Tensor:
    # moshi's rms_norm_f32 (float32, the module's eps, back to x's dtype) through torch's
    # fused kernel: equal up to float32 rounding, a third of the kernels.
    alpha = fused.norm_alpha(norm)
    return F.rms_norm(x.float(), alpha.shape, alpha, norm.eps).to(x.dtype)


def keep_float32_scales(norms) -> None:
    """Cast the norms' scales to float32 once, not in every call: one kernel fewer per
    norm per frame (160 of them in a PersonaPlex frame), the same values. A plain
    attribute, not a buffer: it stays out of state dicts."""
    for norm in norms:
        norm.__dict__["_alpha32"] = norm.alpha.detach().view(-1).float()


def end_norm(x: torch.Tensor, delta: torch.Tensor, norm) -> torch.Tensor:
    """`norm(x + delta)` after the fused layers (fused.py); `norm` may be None or any
    module (fused only for moshi's RMSNorm)."""
    from moshi.modules.transformer import RMSNorm

    if isinstance(norm, RMSNorm):
        return fused.add_rms_norm(x, delta, norm)[1]
    x = x + delta
    return x if norm is None else norm(x)


def _is_rms(norm) -> bool:
    from moshi.modules.transformer import RMSNorm

    return isinstance(norm, RMSNorm)


def _projections(lm: LMModel):
    for layer in lm.depformer.layers:
        yield from layer.self_attn.in_projs
        yield from layer.self_attn.out_projs
        for g in layer.gating:
            yield from (g.linear_in, g.linear_out)
    yield from lm.depformer_in
    yield from lm.linears
    for norm in lm.depformer_norms:  # RMSNorm or nothing: what _linear_logits fuses
        if not (_is_rms(norm) or isinstance(norm, torch.nn.Identity)):
            yield norm


def supported(lm: LMModel) -> bool:
    """Whether this depformer has the shape the lean pass implements."""
    from moshi.modules.transformer import RMSNorm

    for layer in lm.depformer.layers:
        if not isinstance(layer.norm1, RMSNorm) or not isinstance(layer.norm2, RMSNorm):
            return False
        if not isinstance(layer.layer_scale_1, torch.nn.Identity) or layer.cross_attention is not None:
            return False
        if not isinstance(layer.gating, torch.nn.ModuleList) or layer.self_attn.kv_repeat != 1:
            return False
        if layer.self_attn.rope is not None or layer.self_attn.weights_per_step_schedule:
            return False
    return lm.depformer_multi_linear and lm.depformer.positional_embedding == "none"


class Depformer:
    def __init__(self, lm: LMModel, batch_size: int) -> None:
        self.lm = lm
        self.steps = lm.dep_q
        layer0 = lm.depformer.layers[0].self_attn
        self.heads = layer0.num_heads
        self.head_dim = layer0.embed_dim // layer0.num_heads
        shape = (2, batch_size, self.heads, self.steps, self.head_dim)
        # Plain per-layer key/value caches, reused every frame (fixed addresses for CUDA
        # graphs); keys and values in one tensor, so one copy writes both.
        self.caches = [torch.zeros(shape, device=lm.device, dtype=lm.dtype) for _ in lm.depformer.layers]
        keep_float32_scales([n for layer in lm.depformer.layers for n in (layer.norm1, layer.norm2)])
        self.fused = fused.available(lm.device) and all(
            g.activation is F.silu for layer in lm.depformer.layers for g in layer.gating)
        # Projections through fused.linear (one kernel with the norm or gate before it):
        # for one or two rows of plain weights (a batch is better served by torch's matmuls,
        # a quantized mode's modules are not nn.Linear).
        self.linear = self.fused and fused.LINEAR and batch_size <= 2 and all(
            fused.plain_linear(m, lm) for m in _projections(lm))
        # Each step's embedding in one kernel (moshi's takes five).
        embeddings = [lm.depformer_text_emb, *lm.depformer_emb]
        self.tables = [fused.Tables([m]) for m in embeddings] if self.fused and all(
            fused.plain_embedding(m, lm) for m in embeddings) else None

    def logits(self, step: int, token: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        """Logits [B, card] of depformer step `step` (steps run in order 0, 1, ... per frame).

        `token` [B] is the previous stream's token (the text token for step 0), `hidden`
        [B, 1, dim] the main transformer's output for this frame.
        """
        lm = self.lm
        emb = lm.depformer_text_emb if step == 0 else lm.depformer_emb[step - 1]
        if self.fused:
            delta = self.tables[step].sum(token[:, None, None]) if self.tables else emb(token[:, None])
            if self.linear:
                return self._linear_logits(step, hidden, delta)
            # the sum goes into the first norm's kernel
            return self._fused_logits(step, lm.depformer_in[step](hidden), delta)
        x = lm.depformer_in[step](hidden) + emb(token[:, None])
        B = x.shape[0]
        for layer, cache in zip(lm.depformer.layers, self.caches):
            attn = layer.self_attn
            h = _rms_norm(x, layer.norm1)
            qkv = attn.in_projs[step](h).view(B, 3, self.heads, self.head_dim)
            cache[:, :, :, step] = qkv[:, 1:].transpose(0, 1)
            q = qkv[:, 0, :, None]  # [B, H, 1, D]
            out = F.scaled_dot_product_attention(q, cache[0, :, :, : step + 1], cache[1, :, :, : step + 1])
            x = x + attn.out_projs[step](out.reshape(B, 1, -1))
            gating = layer.gating[step]
            h = gating.linear_in(_rms_norm(x, layer.norm2)).view(B, 1, 2, -1)
            h = gating.activation(h[..., 0, :]) * h[..., 1, :]
            x = x + gating.linear_out(h)
        return lm.linears[step](lm.depformer_norms[step](x))[:, 0]

    def _linear_logits(self, step: int, hidden: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        """`logits` with every projection in fused.linear: five kernels a layer (norm and
        qkv, attention, out, norm and gate_up, gate and down)."""
        lm, B = self.lm, hidden.shape[0]
        x = fused.linear(hidden, lm.depformer_in[step].weight)[0]
        for layer, cache in zip(lm.depformer.layers, self.caches):
            attn, gating = layer.self_attn, layer.gating[step]
            qkv, x = fused.linear(x, attn.in_projs[step].weight, layer.norm1, delta)
            out = fused.step_attention(qkv, cache, step, self.heads)
            delta = fused.linear(out.reshape(B, 1, -1), attn.out_projs[step].weight)[0]
            h, x = fused.linear(x, gating.linear_in.weight, layer.norm2, delta)
            delta = fused.linear(h, gating.linear_out.weight, gate=True)[0]
        norm = lm.depformer_norms[step]
        return fused.linear(x, lm.linears[step].weight, norm if _is_rms(norm) else None, delta)[0][:, 0]

    def _fused_logits(self, step: int, x: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        """`logits` in fused kernels (fused.py): each residual add goes into the next norm."""
        lm, B = self.lm, x.shape[0]
        for layer, cache in zip(lm.depformer.layers, self.caches):
            attn = layer.self_attn
            x, h = fused.add_rms_norm(x, delta, layer.norm1)
            out = fused.step_attention(attn.in_projs[step](h), cache, step, self.heads)
            x, h = fused.add_rms_norm(x, attn.out_projs[step](out.reshape(B, 1, -1)), layer.norm2)
            gating = layer.gating[step]
            delta = gating.linear_out(fused.silu_mul(gating.linear_in(h)))
        return lm.linears[step](end_norm(x, delta, lm.depformer_norms[step]))[:, 0]
