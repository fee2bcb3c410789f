"""Pure formatting for the memory browser: times, kinds, sources and counts as people
read them."""

from __future__ import annotations

import time

from PySide6.QtCore import QDateTime

KIND_NAMES = {"episodic": "Conversation turn", "semantic": "Fact", "procedural": "Preference"}
SPEAKERS = {"user": "You", "assistant": "Arcus"}
SOURCES = {"user": "Added by you", "conversation": "Said in a conversation",
           "summary": "Summary of a conversation", "cue:remember": "You asked Arcus to remember it",
           "cue:preference": "A preference you mentioned", "cue:correction": "A correction you made"}
SHORT_SOURCES = {"user": "You", "conversation": "Conversation", "summary": "Summary",
                 "cue:remember": "Asked to remember", "cue:preference": "Mentioned",
                 "cue:correction": "Correction"}


def when_text(ts: float, now: float | None = None) -> str:
    dt = QDateTime.fromSecsSinceEpoch(int(ts))
    today = QDateTime.fromSecsSinceEpoch(int(now or time.time())).date()
    clock = dt.time().toString("HH:mm")
    if dt.date() == today:
        return f"Today {clock}"
    if dt.date() == today.addDays(-1):
        return f"Yesterday {clock}"
    if dt.date().year() == today.year():
        return dt.toString("d MMM, ") + clock
    return dt.toString("d MMM yyyy")


def full_time(ts: float) -> str:
    return QDateTime.fromSecsSinceEpoch(int(ts)).toString("dddd d MMMM yyyy, HH:mm")


def offset_text(seconds: float | None) -> str:
    seconds = max(0, int(seconds or 0))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


def kind_text(m) -> str:
    if m.kind == "episodic" and m.speaker:
        return f"{SPEAKERS.get(m.speaker, m.speaker.title())} said"
    return KIND_NAMES.get(m.kind, m.kind)


def source_text(source: str, short: bool = False) -> str:
    return (SHORT_SOURCES if short else SOURCES).get(
        source, source.removeprefix("cue:").capitalize())


def importance_text(m) -> str:
    percent = f"{round(m.importance * 100)}%"
    return f"Pinned · {percent}" if m.pinned else percent


def conversation_title(conv) -> str:
    return conv.title.strip() or "Untitled conversation"


def _count(n: int) -> str:
    return f"{n} memory" if n == 1 else f"{n} memories"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
