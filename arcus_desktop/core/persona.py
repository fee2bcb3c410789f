"""A persona: who the assistant is (text role) and how it sounds (voice)."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_VOICE = "NATF2"
DEFAULT_TOKEN_BUDGET = 200

# The product brief's companion persona.
ARCUS_COMPANION = (
    "You are Arcus, the AI companion for Arcus Innovation Studios. Loyal, proactive, "
    "concise but thorough, honest even when the truth is uncomfortable; warm but "
    "professional; use natural backchannels; ask clarifying questions when intent is "
    "unclear."
)


@dataclass(frozen=True)
class Persona:
    text: str = ARCUS_COMPANION
    voice: str = DEFAULT_VOICE  # a preset name, used when voice_file is None
    voice_file: str | None = None  # the user's own recording
    token_budget: int = DEFAULT_TOKEN_BUDGET
    truncate: bool = False  # cut an over-long text (and report it) instead of refusing it
