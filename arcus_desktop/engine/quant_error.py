"""How far a quantized model's predictions are from the full-precision ones, measured
teacher-forced (both models see the same tokens), so one early difference does not
make every later frame incomparable."""

from __future__ import annotations

from dataclasses import dataclass

from .torch_env import torch


@dataclass
class QuantError:
    text_rel: float  # ‖q − ref‖ / ‖ref‖ of the text logits
    audio_rel: float  # the same for the audio logits (all depformer steps)
    text_top1: float  # share of positions where both pick the same text token
    audio_top1: float
    finite: float = 1.0  # share of the quantized model's logits that are numbers at all


@torch.no_grad()
def measure(ref, quantized, frames: int = 32, seed: int = 0,
            codes: torch.Tensor | None = None) -> QuantError:
    """Both LMs on the same token sequence [1, streams, frames]: `codes`, or random."""
    if codes is None:
        g = torch.Generator().manual_seed(seed)
        codes = torch.randint(0, ref.card, (1, ref.num_codebooks, frames), generator=g)
        codes[:, 0] = torch.randint(0, ref.text_card, (1, frames), generator=g)
    outs = []
    for lm in (ref, quantized):
        out = lm.forward(codes.to(lm.device))
        outs.append((out.text_logits.float(), out.logits.float()))
    (rt, ra), (qt, qa) = outs
    ok_t, ok_a = torch.isfinite(rt) & torch.isfinite(qt), torch.isfinite(ra) & torch.isfinite(qa)

    def rel(a, b, ok):
        return float((a[ok] - b[ok]).norm() / b[ok].norm().clamp_min(1e-12))

    def top1(a, b):
        return float((a.argmax(-1) == b.argmax(-1)).float().mean())

    finite = float(torch.cat([torch.isfinite(qt).flatten(), torch.isfinite(qa).flatten()]).float().mean())
    return QuantError(rel(qt, rt, ok_t), rel(qa, ra, ok_a), top1(qt, rt), top1(qa, ra), finite)
