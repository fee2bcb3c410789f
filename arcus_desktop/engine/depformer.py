"""A lean forward pass of moshi's depformer for one frame, with moshi's own weights.

moshi runs the depformer through its general streaming transformer: a ring KV cache,
position masks and per-call bookkeeping, about 45 small GPU kernels per layer and step.
Within a frame the step index is a Python constant, so here the KV cache is a plain
tensor sliced to the steps so far (no mask, no ring) and each layer needs about a
dozen kernels. tests/unit/test_depformer.py checks it against moshi's forward.
"""

from __future__ import annotations

from .torch_env import torch

import torch.nn.functional as F
from moshi.models.lm import LMModel


def _rms_norm(x: torch.Tensor, norm) -> torch.Tensor:
    # moshi's rms_norm_f32 (float32, the module's eps, back to x's dtype) through torch's
    # fused kernel: equal up to float32 rounding, a third of the kernels.
    alpha = norm.alpha.view(-1).float()  # stored in the model's dtype, used in float32
    return F.rms_norm(x.float(), alpha.shape, alpha, norm.eps).to(x.dtype)


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
        shape = (batch_size, self.heads, self.steps, self.head_dim)
        # Plain per-layer caches, reused every frame (fixed addresses for CUDA graphs).
        self.keys = [torch.zeros(shape, device=lm.device, dtype=lm.dtype) for _ in lm.depformer.layers]
        self.values = [torch.zeros_like(k) for k in self.keys]

    def logits(self, step: int, token: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        """Logits [B, card] of depformer step `step` (steps run in order 0, 1, ... per frame).

        `token` [B] is the previous stream's token (the text token for step 0), `hidden`
        [B, 1, dim] the main transformer's output for this frame.
        """
        lm = self.lm
        emb = lm.depformer_text_emb if step == 0 else lm.depformer_emb[step - 1]
        x = lm.depformer_in[step](hidden) + emb(token[:, None])
        B = x.shape[0]
        for layer, keys, values in zip(lm.depformer.layers, self.keys, self.values):
            attn = layer.self_attn
            h = _rms_norm(x, layer.norm1)
            qkv = attn.in_projs[step](h).view(B, 3, self.heads, self.head_dim)
            keys[:, :, step] = qkv[:, 1]
            values[:, :, step] = qkv[:, 2]
            q = qkv[:, 0, :, None]  # [B, H, 1, D]
            out = F.scaled_dot_product_attention(q, keys[:, :, : step + 1], values[:, :, : step + 1])
            x = x + attn.out_projs[step](out.reshape(B, 1, -1))
            gating = layer.gating[step]
            h = gating.linear_in(_rms_norm(x, layer.norm2)).view(B, 1, 2, -1)
            h = gating.activation(h[..., 0, :]) * h[..., 1, :]
            x = x + gating.linear_out(h)
        return lm.linears[step](lm.depformer_norms[step](x))[:, 0]
