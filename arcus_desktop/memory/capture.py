"""Capture of a conversation as it happens: each turn is committed the moment it ends (a
crash loses nothing already said), cues become facts and preferences, and the end of the
session adds a summary."""

from __future__ import annotations

import time

from ..core.transcript import Word
from ..core.turns import Turn
from . import cues, summary
from .store import Conversation, Memory, MemoryStore

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
                 started_at: float | None = None, conversation_id: str | None = None) -> None:
        """A new conversation in `store`, or with `conversation_id` one already there."""
        self.store = store
        self.started_at = started_at or time.time()
        self.recording_path = recording_path
        self.id = conversation_id or store.start_conversation(persona, recording_path,
                                                              self.started_at)
        self.turns: list[Turn] = []
        self._kept: set[tuple] = set()  # the turns stored (see _key)
        self._cued: set[tuple] = set()  # ...and whose cues ("remember that ...") were too
        self.cues: list[Memory] = []
        self.finished = False

    @classmethod
    def resume(cls, store: MemoryStore, conv: Conversation) -> ConversationCapture:
        """The capture of a conversation already stored, with the turns it stored (to
        complete it after its capture went: late turns, an engine or app restart)."""
        capture = cls(store, recording_path=conv.recording_path, started_at=conv.started_at,
                      conversation_id=conv.id)
        capture.finished = conv.ended_at is not None
        for m in store.conversation_memories(conv.id):
            if m.source == "conversation" and m.audio_offset is not None:
                turn = Turn(m.speaker or "", m.content, m.audio_offset,
                            m.audio_offset + (m.audio_duration or 0.0))
                capture.turns.append(turn)
                capture._kept.add(_key(turn))
        capture._cued = set(capture._kept)
        return capture

    def add_turn(self, turn: Turn) -> Memory | None:
        """Store an ended turn; one already stored is not stored again. Its cues are
        tried again if they failed (a busy or full disk) while the turn was stored."""
        text, key = " ".join(turn.text.split()), _key(turn)
        if not text or key in self._cued:
            return None
        memory = None
        if key not in self._kept:
            memory = self.store.add(
                "episodic", text, speaker=turn.speaker, conversation_id=self.id,
                audio_path=self.recording_path, audio_offset=turn.start,
                audio_duration=max(0.0, turn.end - turn.start), source="conversation",
                occurred_at=self.started_at + turn.start)
            self.turns.append(turn)
            self._kept.add(key)
        if turn.speaker == "user":  # facts and preferences merge: a retry adds no twin
            for cue in cues.find(text):
                self.cues.append(self.store.add(
                    cue.kind, cue.text, conversation_id=self.id, importance=cue.importance,
                    source=f"cue:{cue.why}", occurred_at=self.started_at + turn.end))
        self._cued.add(key)
        return memory

    def complete(self, recording: dict | None) -> Memory | None:
        """End the conversation with everything its recording holds (audio/recording.py's
        transcript: turns, words, duration): turns not stored yet, and in one left
        unfinished the words after each side's last turn (a process killed mid-turn never
        ended that turn). Can run again (the recording read later, or after a restart):
        it adds only what is new."""
        added = 0
        if recording:
            kept = recording.get("turns") or []
            turns = [Turn(t["speaker"], t["text"], t["start"], t["end"]) for t in kept]
            # A finished recording's turns hold all its words; one its engine left
            # unfinished (read from its journal) may end in a turn never ended.
            sides = (recording.get("words") or {}) if recording.get("recovered") else {}
            for speaker, words in sides.items():
                # In the order they were said: one side's speech is one piece after another.
                mine = sorted([t for t in kept if t["speaker"] == speaker] +
                              [b for t in kept for b in t.get("backchannels") or []
                               if b["speaker"] == speaker], key=lambda x: x["start"])
                turns += turns_from_words(_unturned(words, mine), speaker)
            for turn in sorted(turns, key=lambda t: t.start):
                added += self.add_turn(turn) is not None
        duration = (recording or {}).get("duration")
        return self._end(duration, again=added > 0)

    def finish(self) -> Memory | None:
        """End the conversation: a title and an extractive summary (if anything was said)."""
        return self._end(None, again=False)

    def _end(self, duration: float | None, again: bool) -> Memory | None:
        if self.finished and not again and duration is None:
            return None
        first = not self.finished
        self.finished = True
        pairs = [(t.speaker, t.text) for t in sorted(self.turns, key=lambda t: t.start)]
        last = max((t.end for t in self.turns), default=0.0)
        end = self.started_at + (last if duration is None else max(duration, last))
        self.store.end_conversation(self.id, title=summary.title(pairs), ended_at=end)
        if not (first or again):
            return None
        old = [m for m in self.store.conversation_memories(self.id) if m.source == "summary"]
        self.store.maintain()
        text = summary.summarize(pairs)
        if not text:
            return None
        for m in old:  # a summary of fewer turns
            self.store.delete(m.id)
        return self.store.add("semantic", f"Summary of a conversation: {text}",
                              conversation_id=self.id, source="summary", importance=0.4,
                              occurred_at=end, merge=False)


def _unturned(words: list[dict], said: list[dict]) -> list[Word]:
    """One side's words (or ends of words) that none of its turns and backchannels
    (`said`, in order) holds: those of a turn a killed engine never ended. Its words
    are its pieces one after another, and so are its turns' texts, up to that turn."""
    stream = "".join("".join(w["text"].split()) for w in words)
    held = "".join("".join(x["text"].split()) for x in said)
    if stream.startswith(held):
        at = len(held)
    else:  # not in the same order after all: where the last of them was matched
        at, j = None, 0
        for i, c in enumerate(stream):
            if j < len(held) and c == held[j]:
                j += 1
                if j == len(held):
                    at = i + 1
        if at is None:  # by time, then: what began after all of them
            after = max((x["end"] for x in said), default=-1.0)
            return [Word(w["text"], w["start"], w["end"]) for w in words
                    if w["start"] >= after]
    out, pos = [], 0
    for w in words:
        text = "".join(w["text"].split())
        if pos + len(text) > at:
            out.append(Word(text[max(0, at - pos):], w["start"], w["end"]))
        pos += len(text)
    return out


def _key(turn: Turn) -> tuple:
    # Start alone is not enough: the user's words come late and may open two turns at 0.0.
    return (turn.speaker, round(float(turn.start), 3), round(float(turn.end), 3),
            " ".join(turn.text.split()))
