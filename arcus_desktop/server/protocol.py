"""The wire format of docs/PROTOCOL.md: message kinds, query parameters, error codes."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

HANDSHAKE, AUDIO, TEXT, METADATA, ERROR, PING = 0x00, 0x01, 0x02, 0x04, 0x05, 0x06

MAX_PROMPT_CHARS = 4000
MAX_PING_BYTES = 64
DEFAULT_VOICE = "NATF2"
_VOICE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")

# error code -> websocket close code (docs/PROTOCOL.md, "Errors and closing")
CLOSE_CODES = {
    "full": 1013, "draining": 1013, "bad_request": 1008, "unknown_voice": 1008,
    "prompt_too_long": 1008, "message_too_big": 1009, "rate_limited": 1008,
    "slow_client": 1008, "bad_audio": 1003, "idle": 1000, "internal": 1011, "shutdown": 1001,
}

# (query name, Sampling field, lowest, highest, type)
SAMPLING_PARAMS = (
    ("text_temperature", "text_temperature", 0.0, 2.0, float),
    ("text_topk", "text_top_k", 1, 500, int),
    ("audio_temperature", "temperature", 0.0, 2.0, float),
    ("audio_topk", "top_k", 1, 500, int),
)


class ProtocolError(Exception):
    """Ends a conversation: `code` is one of CLOSE_CODES, `message` is for a person."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class ChatRequest:
    text: str
    voice: str  # a preset name without ".pt", or an uploaded voice's name
    sampling: dict = field(default_factory=dict)  # Sampling fields the client chose
    extensions: bool = False


def parse_chat(query) -> ChatRequest:
    """The conversation a client asks for, from the query of `GET /api/chat`."""
    text = query.get("text_prompt", "")
    if len(text) > MAX_PROMPT_CHARS:
        raise ProtocolError("prompt_too_long", f"The persona text is {len(text)} characters "
                            f"long; the limit is {MAX_PROMPT_CHARS}.")
    voice = query.get("voice_prompt", "") or DEFAULT_VOICE
    name = voice[:-3] if voice.endswith(".pt") else voice
    if not _VOICE_NAME.fullmatch(name):
        raise ProtocolError("bad_request", f"{voice!r} is not a voice name (a preset such as "
                            "NATF2.pt, or an uploaded voice's name).")
    sampling = {}
    for param, attr, low, high, kind in SAMPLING_PARAMS:
        if param not in query:
            continue
        try:
            value = kind(float(query[param])) if kind is int else float(query[param])
        except (ValueError, OverflowError):
            raise ProtocolError("bad_request", f"{param} must be a number.") from None
        if not low <= value <= high:  # also refuses nan
            raise ProtocolError("bad_request", f"{param} must be between {low} and {high}.")
        sampling[attr] = value
    return ChatRequest(text, name, sampling, query.get("arcus", "") == "1")


def audio(payload: bytes) -> bytes:
    return bytes([AUDIO]) + payload


def text(piece: str) -> bytes:
    """A text piece as the reference sends it: sentencepiece's word mark as a space."""
    return bytes([TEXT]) + piece.replace("\u2581", " ").encode("utf-8")


def metadata(event: dict) -> bytes:
    return bytes([METADATA]) + json.dumps(event, separators=(",", ":")).encode("utf-8")


def error(message: str) -> bytes:
    return bytes([ERROR]) + message.encode("utf-8")


def close_reason(code: str, message: str) -> str:
    """`<code>: <text>` within the 123 bytes a close frame allows."""
    reason = f"{code}: {message}".encode("utf-8")[:123]
    return reason.decode("utf-8", errors="ignore")
