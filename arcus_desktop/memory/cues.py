"""Explicit cues in what the user says: "remember that …", "I prefer …", corrections.
Each becomes a fact or a preference of its own."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Cue:
    kind: str  # semantic or procedural
    text: str
    importance: float
    why: str  # remember, preference or correction


_END = r"(?P<text>[^.!?]{3,}?)\s*(?:[.!?]|$)"
_RULES = [
    ("semantic", 0.8, "remember", re.compile(
        r"\b(?:please\s+)?(?:remember|don'?t forget|keep in mind|note)\s+(?:that\s+)?" + _END,
        re.IGNORECASE)),
    ("procedural", 0.7, "preference", re.compile(
        r"\b(?P<lead>I(?:'d| would)? (?:really )?(?:prefer|rather|like it when|like you to|"
        r"want you to|don'?t like it when|hate it when))\s+" + _END, re.IGNORECASE)),
    ("procedural", 0.7, "preference", re.compile(
        r"\b(?P<lead>(?:please\s+)?(?:always|never|stop|don'?t ever))\s+" + _END, re.IGNORECASE)),
    ("procedural", 0.7, "preference", re.compile(
        r"\b(?P<lead>call me)\s+" + _END, re.IGNORECASE)),
    ("semantic", 0.7, "correction", re.compile(
        r"^(?:no|nope|actually|correction|that'?s (?:wrong|not right|not true))[,:]?\s+"
        r"(?:it'?s\s+|it is\s+)?" + _END, re.IGNORECASE)),
]


def find(text: str) -> list[Cue]:
    """The cues in one turn, each as the words the user used (kept in the first person
    for preferences, so the style note reads as the user's own request)."""
    found, taken = [], []
    for kind, importance, why, rule in _RULES:
        for m in rule.finditer(text.strip()):
            if any(m.start() < end and start < m.end() for start, end in taken):
                continue
            body = m.group("text").strip(" ,;:")
            lead = m.groupdict().get("lead")
            phrase = f"{lead} {body}" if lead else body
            if len(body.split()) >= 2 or lead:
                found.append(Cue(kind, phrase[0].upper() + phrase[1:], importance, why))
                taken.append((m.start(), m.end()))
    return found
