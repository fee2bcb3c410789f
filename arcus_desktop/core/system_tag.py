"""The <system> wrapper PersonaPlex expects around its role text, and the cleaning that
keeps any text (a user's role, a recalled memory) from closing it early."""

from __future__ import annotations

import re

TAG = "<system>"
# Any spelling of the tag someone could type, so text can never break out of the wrapper.
_TAG_LIKE = re.compile(r"<\s*/?\s*system\s*/?\s*>", re.IGNORECASE)


def clean(text: str) -> str:
    """Text without any tag and with single spaces: an already wrapped text is unwrapped."""
    text = text.strip()
    if text.lower().startswith(TAG) and text.lower().endswith(TAG) and len(text) >= 2 * len(TAG):
        text = text[len(TAG): -len(TAG)]
    text = _TAG_LIKE.sub(" ", text)
    return " ".join(text.split())


def wrap(role: str) -> str:
    return f"{TAG} {clean(role)} {TAG}"
