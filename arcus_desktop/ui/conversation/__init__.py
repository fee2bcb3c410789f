"""The conversation window: a two-lane live waveform, the transcript of both sides
(growing words, interruptions, backchannels), a status line, mute and end.

Widgets only; `ConversationWindow.attach(supervisor)` follows an EngineSupervisor.
Nothing here imports torch."""

from .model import TranscriptModel
from .status import StatusLine, plain_hint
from .turns import ASSISTANT, USER, Backchannel, Turn
from .view import TranscriptView
from .waveform import Waveform
from .window import ConversationWindow

__all__ = ["ASSISTANT", "USER", "Backchannel", "ConversationWindow", "StatusLine",
           "TranscriptModel", "TranscriptView", "Turn", "Waveform", "plain_hint"]
