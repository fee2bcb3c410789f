"""The <system> wrapper PersonaPlex expects around its role text, and the cleaning that
keeps any text (a user's role, a recalled memory) from closing it early."""

from __future__ import annotations

import re
import unicodedata

TAG = "<system>"
# Any spelling of the tag someone could type, so text can never break out of the wrapper.
# No two \s* side by side: "<" and a long run of spaces would backtrack quadratically.
_TAG_LIKE = re.compile(r"<\s*(?:/\s*)?system\s*(?:/\s*)?>", re.IGNORECASE)
PASSES = 4  # tags nested deeper than this are an attack: then every "<" goes


def normal(text: str) -> str:
    """The text as the tokenizer reads it: NFKC (full-width and small-form brackets become
    < and >), without invisible format characters (a zero-width space inside a tag)."""
    text = unicodedata.normalize("NFKC", text)
    return "".join(c for c in text if unicodedata.category(c) != "Cf")


def clean(text: str) -> str:
    """Text without any tag and with single spaces: an already wrapped text is unwrapped.
    Normalised first, so no look-alike of the tag becomes the real one in the tokenizer."""
    text = normal(text).strip()
    if text.lower().startswith(TAG) and text.lower().endswith(TAG) and len(text) >= 2 * len(TAG):
        text = text[len(TAG): -len(TAG)]
    for _ in range(PASSES):  # removing one tag can join the pieces of another: "<<system>system>"
        text, n = _TAG_LIKE.subn(" ", text)
        if not n:
            return " ".join(text.split())
    return " ".join(text.replace("<", " ").split())  # one pass each: linear in the text


def wrap(role: str) -> str:
    return f"{TAG} {clean(role)} {TAG}"
