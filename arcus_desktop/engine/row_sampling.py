"""Sampling settings per row of a batch, for a server whose conversations each ask for
their own temperature and top-k.

moshi's `sample_token` takes one temperature and one k for the whole batch. Here both
are tensors updated in place (so a CUDA graph captured once serves every setting), and
top-k is a top-`MAX_TOP_K` whose tail is cut per row. Draws follow moshi's: probabilities
over exponential noise, then argmax. A row with temperature 0 takes the argmax.

With `fused` (where fused.py's kernels run) each draw is one kernel (fused.sample) with
no top-k cap, and the generator uses it for every row alike too.
"""

from __future__ import annotations

from .torch_env import torch

from . import fused as fused_kernels

MAX_TOP_K = 500  # the largest top-k a conversation may ask for


class RowSampling:
    TEXT, AUDIO = 0, 1

    def __init__(self, batch_size: int, device: torch.device, default, fused: bool = False) -> None:
        self.fused = fused
        self.temperature = torch.zeros(batch_size, 2, device=device)
        self.top_k = torch.ones(batch_size, 2, dtype=torch.long, device=device)
        for row in range(batch_size):
            self.set(row, default)

    def set(self, row: int, sampling) -> None:
        """`sampling` is a generator.Sampling."""
        greedy = sampling.greedy
        self.temperature[row, self.TEXT] = 0.0 if greedy else sampling.text_temperature
        self.temperature[row, self.AUDIO] = 0.0 if greedy else sampling.temperature
        if self.fused:  # moshi's meaning: 0 is every token
            self.top_k[row, self.TEXT] = max(0, sampling.text_top_k)
            self.top_k[row, self.AUDIO] = max(0, sampling.top_k)
            return
        self.top_k[row, self.TEXT] = min(max(1, sampling.text_top_k), MAX_TOP_K)
        self.top_k[row, self.AUDIO] = min(max(1, sampling.top_k), MAX_TOP_K)

    def sample(self, logits: torch.Tensor, which: int, into: torch.Tensor | None = None) -> torch.Tensor:
        """Tokens [B] from logits [B, card]; `which` is TEXT or AUDIO. `into` (fused only):
        written in place, keeping its values >= 0 (forced tokens); see fused.sample."""
        if self.fused:
            return fused_kernels.sample(logits, self.temperature[:, which], self.top_k[:, which],
                                        into=into)
        logits = logits.float()
        temperature = self.temperature[:, which]
        k = self.top_k[:, which]
        greedy = logits.argmax(-1)
        probs = torch.softmax(logits / temperature.clamp_min(1e-5)[:, None], dim=-1)
        top, index = probs.topk(min(MAX_TOP_K, logits.shape[-1]), dim=-1)
        keep = torch.arange(top.shape[-1], device=logits.device)[None] < k[:, None]
        noise = torch.empty_like(top).exponential_(1)
        pick = (top * keep / noise).argmax(-1, keepdim=True)
        drawn = index.gather(-1, pick)[:, 0]
        return torch.where(temperature > 0, drawn, greedy)
