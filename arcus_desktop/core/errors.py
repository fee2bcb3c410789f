"""Errors that reach the user: each says what went wrong and what to do next."""

from __future__ import annotations

import logging
import re

log = logging.getLogger(__name__)

MODEL_PAGE = "https://huggingface.co/nvidia/personaplex-7b-v1"


class ArcusError(Exception):
    """Base for every user-facing failure.

    `message` says what happened, `hint` says what the user can do about it.
    """

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def user_text(self) -> str:
        return f"{self.message} {self.hint}".strip()

    def __str__(self) -> str:
        return self.user_text()


class ModelNotFoundError(ArcusError):
    pass


class AuthError(ArcusError):
    """Bad or missing token, or the licence was not accepted on the model page."""


class NetworkError(ArcusError):
    pass


class DiskFullError(ArcusError):
    pass


class CorruptFileError(ArcusError):
    """A file is truncated or its contents do not match what the hub published."""

    def __init__(self, message: str, hint: str = "", path: str = "") -> None:
        super().__init__(message, hint)
        self.path = path


class CheckpointShapeError(ArcusError):
    """The weights do not fit the model described by config.json."""


class UnknownVoiceError(ArcusError):
    pass


class AudioFileError(ArcusError):
    """An input recording that cannot be read, or holds no audio."""


class PromptTooLongError(ArcusError):
    def __init__(self, message: str, hint: str, tokens: int, budget: int) -> None:
        super().__init__(message, hint)
        self.tokens = tokens
        self.budget = budget


class DeviceError(ArcusError):
    """The requested compute device is missing or out of memory."""


HINT_LIMIT = 300  # characters of a hint shown; the rest goes to the log
_TRACEBACK = re.compile(r"(details:\s*)?Traceback \(most recent call last\)|"
                        r"(details:\s*)?\n\s*File \"", re.IGNORECASE)


def plain_hint(hint: str) -> str:
    """A hint fit to show the user: without any traceback or source-file lines in it
    (whoever sent it), and not too long."""
    match = _TRACEBACK.search(hint or "")
    text = hint[:match.start()] if match else (hint or "")
    text = re.sub(r"[;:,]?\s*(details:?)?\s*$", "", text.strip(), flags=re.IGNORECASE)
    if match:
        log.info("engine details: %s", hint[match.start():])
        if text and text[-1] not in ".!?":
            text += "."
    if len(text) > HINT_LIMIT:
        text = text[:HINT_LIMIT - 1].rstrip() + "…"
    return text
