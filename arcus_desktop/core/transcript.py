"""Turn the model's text pieces into timed words."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

SPACE = "\u2581"  # sentencepiece's word-start marker


@dataclass
class Word:
    text: str
    start: float
    end: float


class Words(list):
    """Timed words, and whether the last piece was a lone "▁": sentencepiece sends one
    before a piece that has no "▁" form of its own ("▁", "14"), so that piece starts a
    word ("on 14 March", not "on14 March")."""

    spaced = False


def add_piece(words: list[Word], piece: str, time: float, frame_seconds: float) -> None:
    """Extend `words` with one text piece heard at `time`: "▁" starts a word, anything
    else continues the last one (after a lone "▁" in `words` of Words: starts one)."""
    end = round(time + frame_seconds, 3)
    if not piece.strip(SPACE):
        if piece and isinstance(words, Words):
            words.spaced = True
        return
    spaced = getattr(words, "spaced", False)
    if spaced:
        words.spaced = False
    if piece.startswith(SPACE) or not words or spaced:
        text = piece.lstrip(SPACE)
        if text:
            words.append(Word(text, round(time, 3), end))
        return
    last = words[-1]
    last.text += piece
    last.end = end


@dataclass
class Transcript:
    frame_seconds: float
    pieces: list[dict] = field(default_factory=list)
    words: list[Word] = field(default_factory=Words)

    def add(self, token: int, piece: str, time: float) -> None:
        """A visible text piece that accompanies the audio played at `time` seconds."""
        self.pieces.append({"id": token, "piece": piece, "time": round(time, 3)})
        add_piece(self.words, piece, time, self.frame_seconds)

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)

    def to_dict(self) -> dict:
        return {"text": self.text, "words": [asdict(w) for w in self.words], "pieces": self.pieces}
