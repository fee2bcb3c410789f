"""The conversation window: a two-lane live waveform, the transcript of both sides
(growing words, interruptions, backchannels), a status line, mute and end.

Widgets only; nothing here imports torch."""

from .model import TranscriptModel
from .turns import ASSISTANT, USER, Backchannel, Turn

__all__ = ["ASSISTANT", "USER", "Backchannel", "TranscriptModel", "Turn"]
