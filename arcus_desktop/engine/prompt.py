"""The persona's text role as the model expects it: wrapped in <system> tags, tokenized,
and held to a token budget that is enforced out loud."""

from __future__ import annotations

from dataclasses import dataclass

from ..core.errors import PromptTooLongError
from ..core.system_tag import clean, wrap


@dataclass(frozen=True)
class TextPrompt:
    text: str  # the wrapped text the model sees
    tokens: list[int]
    budget: int
    dropped_tokens: int = 0  # how much of the role text was cut to fit the budget

    @property
    def truncated(self) -> bool:
        return self.dropped_tokens > 0


def count_tokens(tokenizer, role: str) -> int:
    """Tokens of the role as the model reads it (wrapped in <system> tags): the number
    `encode` holds to the token budget."""
    return len(tokenizer.encode(wrap(role)))


def encode(tokenizer, role: str, budget: int = 200, truncate: bool = False) -> TextPrompt:
    """Tokens of the wrapped role. Over budget: an error, or a reported cut."""
    inner = clean(role)
    tokens = tokenizer.encode(wrap(inner))
    if len(tokens) <= budget:
        return TextPrompt(wrap(inner), tokens, budget)
    if not truncate:
        over = len(tokens) - budget
        raise PromptTooLongError(
            f"The persona text is {len(tokens)} tokens long; the limit is {budget}.",
            f"Shorten it by about {over} tokens (roughly {max(1, over * 3 // 4)} words), "
            "or raise the token budget in settings.",
            tokens=len(tokens),
            budget=budget,
        )
    pieces = tokenizer.encode(inner)
    lo, hi = 0, len(pieces)
    while lo < hi:  # the longest prefix of the role whose wrapped form fits
        mid = (lo + hi + 1) // 2
        if len(tokenizer.encode(wrap(tokenizer.decode(pieces[:mid])))) <= budget:
            lo = mid
        else:
            hi = mid - 1
    kept = tokenizer.decode(pieces[:lo])
    fitted = tokenizer.encode(wrap(kept))
    if len(fitted) > budget:
        raise PromptTooLongError(
            f"A token budget of {budget} is too small for any persona text.",
            "Raise the token budget in settings.", tokens=len(fitted), budget=budget)
    return TextPrompt(wrap(kept), fitted, budget, dropped_tokens=len(pieces) - lo)
