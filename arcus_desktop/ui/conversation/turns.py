"""A conversation's turns as plain values: who spoke, when, which words, whether they
were cut off, and the short acknowledgements ("uh-huh") the other side made meanwhile.
No Qt here: the transcript model shows these, the tests build them directly."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ...core.turns import ASSISTANT, USER

OTHER = {USER: ASSISTANT, ASSISTANT: USER}
SPEAKER_NAMES = {USER: "You", ASSISTANT: "Arcus"}
WORD_START = ("\u2581", " ")  # sentencepiece's marker; a leading space (speech-to-text)
SPEAKING = "(speaking)"  # what a user turn going on shows while no words are known for it
SPOKE = "(spoke, no transcript)"  # and once it has ended (never "speaking" after End)
BACKCHANNEL_TEXT = "uh-huh"  # what a backchannel shows while no words are known for it
CUT = "\u2014"  # an interrupted turn ends with an em dash


@dataclass
class Backchannel:
    time: float
    text: str = ""  # its words, when known

    @property
    def label(self) -> str:
        return self.text or BACKCHANNEL_TEXT


@dataclass
class Turn:
    speaker: str  # USER or ASSISTANT
    start: float  # seconds into the conversation
    end: float
    pieces: list[tuple[str, float]] = field(default_factory=list)  # (piece, time)
    interrupted: bool = False
    backchannels: list[Backchannel] = field(default_factory=list)  # the other side's
    final: bool = False  # no more words will be added to it
    detected: bool = False  # a turn detector's: its times and text are the truth
    overlapped: bool = False  # it began while the other speaker was talking
    text_override: str | None = None  # a turn event's own text replaces the pieces
    closed_at: float = float("-inf")  # when it stopped growing
    revision: int = 0  # goes up with every change that shows

    def words(self) -> list[tuple[str, float]]:
        """The pieces joined into words: (word, start time)."""
        if self.text_override is not None:
            return [(w, self.start) for w in self.text_override.split()]
        return join_pieces(self.pieces)

    @property
    def text(self) -> str:
        return " ".join(w for w, _ in self.words())

    @property
    def has_words(self) -> bool:
        return bool(self.words())

    @property
    def placeholder(self) -> str:
        """What stands for the words while none are known: a user turn is "(speaking)"
        until it ends; the assistant's words always come with it."""
        if self.speaker != USER:
            return ""
        return SPOKE if self.final else SPEAKING

    @property
    def display_text(self) -> str:
        """What the transcript shows: the words (or the placeholder), cut with "—"."""
        text = self.text or self.placeholder
        return text + CUT if self.interrupted else text

    @property
    def duration(self) -> float:
        return max(0.0, self.end - self.start)


def join_pieces(pieces: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """Text pieces to words: a piece that starts with "▁" (or a space) starts a word,
    any other piece (punctuation, the rest of a word) continues the last one."""
    words: list[list] = []
    new_word = True
    for piece, time in pieces:
        starts = piece.startswith(WORD_START)
        text = piece.replace("\u2581", " ")
        if starts:
            new_word = True
        for i, part in enumerate(text.split(" ")):
            if i > 0:
                new_word = True
            if not part:
                continue
            if new_word or not words:
                words.append([part, time])
            else:
                words[-1][0] += part
            new_word = False
    return [(w, t) for w, t in words]


def clock(seconds: float) -> str:
    """Seconds into the conversation as m:ss (h:mm:ss past an hour); "-:--" for a time
    that is no number (int() of one raises inside Qt's paint, which ends the app)."""
    if not math.isfinite(seconds):
        return "-:--"
    s = max(0, int(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def copy_text(turn: Turn) -> str:
    """One turn as a line of plain text, for the clipboard."""
    words = turn.display_text
    if turn.backchannels:
        other = SPEAKER_NAMES[OTHER[turn.speaker]]
        words += " " + " ".join(f"[{other}: {b.label}]" for b in turn.backchannels)
    return f"{SPEAKER_NAMES[turn.speaker]} ({clock(turn.start)}): {words}"
