"""Turn the model's text pieces into timed words."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

SPACE = "\u2581"  # sentencepiece's word-start marker


@dataclass
class Word:
    text: str
    start: float
    end: float


@dataclass
class Transcript:
    frame_seconds: float
    pieces: list[dict] = field(default_factory=list)
    words: list[Word] = field(default_factory=list)

    def add(self, token: int, piece: str, time: float) -> None:
        """A visible text piece that accompanies the audio played at `time` seconds."""
        self.pieces.append({"id": token, "piece": piece, "time": round(time, 3)})
        end = round(time + self.frame_seconds, 3)
        if piece.startswith(SPACE) or not self.words:
            text = piece.lstrip(SPACE)
            if text:
                self.words.append(Word(text, round(time, 3), end))
            return
        last = self.words[-1]
        last.text += piece
        last.end = end

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)

    def to_dict(self) -> dict:
        return {"text": self.text, "words": [asdict(w) for w in self.words], "pieces": self.pieces}
