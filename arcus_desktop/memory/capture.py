"""Capture of a conversation as it happens: each turn is committed the moment it ends (a
crash loses nothing already said), cues become facts and preferences, and the end of the
session adds a summary."""

from __future__ import annotations

import time

from ..core.turns import Turn
from . import cues, summary
from .store import Memory, MemoryStore

__all__ = ["ConversationCapture", "Turn", "turns_from_words"]

TURN_GAP_S = 0.8  # silence that ends one speaker's turn


def turns_from_words(words, speaker: str, gap: float = TURN_GAP_S) -> list[Turn]:
    """Timed words (with .text, .start, .end) grouped into turns at pauses."""
    turns: list[Turn] = []
    for w in words:
        if turns and w.start - turns[-1].end <= gap:
            turns[-1].text += " " + w.text
            turns[-1].end = w.end
        else:
            turns.append(Turn(speaker, w.text, w.start, w.end))
    return turns


class ConversationCapture:
    def __init__(self, store: MemoryStore, persona: str = "", recording_path: str | None = None,
                 started_at: float | None = None) -> None:
        self.store = store
        self.started_at = started_at or time.time()
        self.recording_path = recording_path
        self.id = store.start_conversation(persona, recording_path, self.started_at)
        self.turns: list[Turn] = []
        self.cues: list[Memory] = []
        self.finished = False

    def add_turn(self, turn: Turn) -> Memory | None:
        text = " ".join(turn.text.split())
        if not text:
            return None
        memory = self.store.add(
            "episodic", text, speaker=turn.speaker, conversation_id=self.id,
            audio_path=self.recording_path, audio_offset=turn.start,
            audio_duration=max(0.0, turn.end - turn.start), source="conversation",
            occurred_at=self.started_at + turn.start)
        self.turns.append(turn)
        if turn.speaker == "user":
            for cue in cues.find(text):
                self.cues.append(self.store.add(
                    cue.kind, cue.text, conversation_id=self.id, importance=cue.importance,
                    source=f"cue:{cue.why}", occurred_at=self.started_at + turn.end))
        return memory

    def finish(self) -> Memory | None:
        """End the conversation: a title and an extractive summary (if anything was said)."""
        if self.finished:
            return None
        self.finished = True
        pairs = [(t.speaker, t.text) for t in self.turns]
        text = summary.summarize(pairs)
        end = self.started_at + (self.turns[-1].end if self.turns else 0.0)
        self.store.end_conversation(self.id, title=summary.title(pairs), ended_at=end)
        self.store.maintain()
        if not text:
            return None
        return self.store.add("semantic", f"Summary of a conversation: {text}",
                              conversation_id=self.id, source="summary", importance=0.4,
                              occurred_at=end, merge=False)
