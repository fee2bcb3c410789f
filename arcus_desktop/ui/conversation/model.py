"""The transcript as a Qt list model: one row per turn, both speakers, growing live.

The public methods are how every source of words plugs in: the assistant's pieces, the
user's speech-to-text, voice activity from the level meters, and a turn detector's
finished turns and backchannels. See turn_log.py for how turns are told apart."""

from __future__ import annotations

from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, Qt

from .turn_log import TurnLog
from .turns import ASSISTANT, SPEAKER_NAMES, USER, Turn, clock, copy_text

TURN_ROLE = Qt.ItemDataRole.UserRole + 1  # the Turn itself
SPEAKER_ROLE = Qt.ItemDataRole.UserRole + 2  # "user" or "assistant"
START_ROLE = Qt.ItemDataRole.UserRole + 3  # seconds into the conversation
INTERRUPTED_ROLE = Qt.ItemDataRole.UserRole + 4
BACKCHANNELS_ROLE = Qt.ItemDataRole.UserRole + 5  # the other side's markers' labels


class TranscriptModel(QAbstractListModel):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.items: list[Turn] = []
        self.log = TurnLog(self)

    # --- sources of words and turns ----------------------------------------------------

    def add_assistant_piece(self, piece: str, time: float) -> None:
        self.log.add_piece(ASSISTANT, piece, time)

    def add_user_piece(self, piece: str, time: float) -> None:
        """A piece of the user's words from speech-to-text ("▁" or a space starts a word)."""
        self.log.add_piece(USER, piece, time)

    def voice(self, speaker: str, time: float) -> None:
        """`speaker` was audibly speaking in the frame at `time` (from the level meters)."""
        self.log.voice(speaker, time)

    def tick(self, time: float) -> None:
        """The conversation's clock reached `time` (call once a frame)."""
        self.log.tick(time)

    def add_turn(self, speaker: str, start: float, end: float, text: str = "",
                 interrupted: bool = False, backchannel: bool = False) -> None:
        self.log.add_turn(speaker, start, end, text, interrupted, backchannel)

    def mark_backchannel(self, speaker: str, time: float, text: str = "") -> None:
        """`speaker` said "uh-huh" at `time`: a marker on the other speaker's turn."""
        self.log.mark_backchannel(speaker, time, text)

    def mark_interrupted(self, speaker: str, time: float) -> None:
        self.log.mark_interrupted(speaker, time)

    def finish(self) -> None:
        """The conversation stopped (or paused): close its turns."""
        self.log.finish()

    def clear(self) -> None:
        self.beginResetModel()
        self.items = []  # so TurnLog.clear finds no rows to remove one by one
        self.log.clear()
        self.endResetModel()

    @property
    def turns(self) -> list[Turn]:
        return self.items

    def text(self, rows: list[int] | None = None) -> str:
        """The transcript (or the given rows) as plain text, a line per turn."""
        rows = range(len(self.items)) if rows is None else sorted(rows)
        return "\n".join(copy_text(self.items[r]) for r in rows)

    # --- the rows protocol TurnLog writes through ----------------------------------------

    def insert(self, row: int, turn: Turn) -> None:
        self.beginInsertRows(QModelIndex(), row, row)
        self.items.insert(row, turn)
        self.endInsertRows()

    def remove(self, row: int) -> None:
        self.beginRemoveRows(QModelIndex(), row, row)
        del self.items[row]
        self.endRemoveRows()

    def changed(self, row: int) -> None:
        index = self.index(row)
        self.dataChanged.emit(index, index)

    # --- QAbstractListModel ------------------------------------------------------------

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.items)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self.items):
            return None
        turn = self.items[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return turn.display_text
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return accessible_text(turn)
        if role == TURN_ROLE:
            return turn
        if role == SPEAKER_ROLE:
            return turn.speaker
        if role == START_ROLE:
            return turn.start
        if role == INTERRUPTED_ROLE:
            return turn.interrupted
        if role == BACKCHANNELS_ROLE:
            return [b.label for b in turn.backchannels]
        return None

    def flags(self, index: QModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable


def accessible_text(turn: Turn) -> str:
    text = turn.text or turn.placeholder.strip("()")
    parts = [f"{SPEAKER_NAMES[turn.speaker]} at {clock(turn.start)}: {text}"]
    if turn.interrupted:
        parts.append("cut off")
    for mark in turn.backchannels:
        parts.append(f"{SPEAKER_NAMES[ASSISTANT if turn.speaker == USER else USER]} "
                     f"said {mark.label}")
    return ", ".join(parts)
