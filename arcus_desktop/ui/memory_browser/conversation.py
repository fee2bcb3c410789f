"""One conversation in a dialog, and the playback of its recording."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QHeaderView, QLabel, QListWidget,
                               QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from ...bridge.player import WINDOW_S, Player, saved_output_device
from ...bridge.settings_store import persona_name
from .text import SPEAKERS, _escape, conversation_title, full_time, kind_text, offset_text
from .widgets import _row


class Playback(QObject):
    """The recording played from a turn, on the speaker chosen on the Audio page; what
    goes wrong (a missing file, a speaker that is not there) becomes a message, never a
    crash. Long recordings are decoded a stretch at a time (bridge.player.WINDOW_S)."""

    message = Signal(str)

    def __init__(self, parent: QObject | None = None,
                 output_device: Callable[[], str | None] = saved_output_device) -> None:
        super().__init__(parent)
        self.player = Player(output_device, max_seconds=WINDOW_S, parent=self)
        self.player.failed.connect(
            lambda text: self.message.emit(f"The recording cannot be played: {text}"))

    def prepare(self, path: str | None, offset_s: float | None) -> bool:
        """Choose the recording and put the play head at offset_s."""
        if not path or not Path(path).is_file():
            self.message.emit(f"The recording {Path(path).name} is missing." if path else
                              "There is no recording of this.")
            return False
        self.player.set_source(str(Path(path).resolve()))
        self.player.seek(max(0.0, offset_s or 0.0))
        return True

    def play(self, path: str | None, offset_s: float | None) -> None:
        if not self.prepare(path, offset_s):
            return
        self.player.play()
        self.message.emit(f"Playing from {offset_text(offset_s)}.")

    def stop(self) -> None:
        self.player.stop()

    def release(self) -> None:
        """Stop and let go of the sound device (closing the dialog)."""
        self.player.stop()


class ConversationDialog(QDialog):
    """One conversation: its turns in order, what was remembered from it, and playback."""

    forget_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.conversation = None
        self.cid: str | None = None
        self.memories: list = []
        self.setWindowTitle("Conversation")
        self.header = QLabel()
        self.header.setWordWrap(True)
        self.turns = QTableWidget(0, 3)
        self.turns.setHorizontalHeaderLabels(["Who", "At", "Said"])
        self.turns.setAccessibleName("Turns")
        self.turns.verticalHeader().hide()
        self.turns.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.turns.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.turns.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.turns.setWordWrap(True)
        header = self.turns.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.turns.doubleClicked.connect(lambda _i: self.play_selected())
        self.noted_label = QLabel("Remembered from it:")
        self.noted = QListWidget()
        self.noted.setAccessibleName("Remembered from this conversation")
        self.noted.setMaximumHeight(90)
        self.play = QPushButton("&Play from here")
        self.stop = QPushButton("S&top")
        self.forget = QPushButton("&Forget conversation…")
        close = QPushButton("&Close")
        close.clicked.connect(self.close)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        box = QVBoxLayout(self)
        box.addWidget(self.header)
        box.addWidget(self.turns, 1)
        box.addWidget(self.noted_label)
        box.addWidget(self.noted)
        box.addLayout(_row(self.play, self.stop, None, self.forget, close))
        box.addWidget(self.status)
        self.playback = Playback(self)
        self.playback.message.connect(self.status.setText)
        self.play.clicked.connect(self.play_selected)
        self.stop.clicked.connect(self.playback.stop)
        self.forget.clicked.connect(lambda: self.cid and self.forget_requested.emit(self.cid))
        self.turns.itemSelectionChanged.connect(self.prepare_selected)
        self.resize(620, 460)

    def show_conversation(self, cid: str, conv, memories: list, focus_id: str | None = None) -> None:
        self.cid, self.conversation = cid, conv
        self.memories = [m for m in memories if m.kind == "episodic"]
        noted = [m for m in memories if m.kind != "episodic"]
        title = conversation_title(conv) if conv else "A forgotten conversation"
        self.setWindowTitle(f"{title} — Arcus memories")
        parts = [f"<b>{_escape(title)}</b>"]
        if conv:
            parts.append(full_time(conv.started_at))
            if conv.ended_at:
                parts.append(f"{offset_text(conv.ended_at - conv.started_at)} long")
            if conv.persona:  # its name; the whole role on hovering
                parts.append(f"with {_escape(persona_name(conv.persona))}")
        self.header.setText(" · ".join(parts))
        self.header.setToolTip(conv.persona if conv else "")
        self.turns.setRowCount(len(self.memories))
        for row, m in enumerate(self.memories):
            at = m.audio_offset if m.audio_offset is not None else (
                m.occurred_at - conv.started_at if conv else 0)
            for col, text in enumerate((SPEAKERS.get(m.speaker, m.speaker or "—"),
                                        offset_text(at), m.content)):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, m.id)
                if col == 2:
                    item.setToolTip(m.content)
                self.turns.setItem(row, col, item)
        self.turns.resizeRowsToContents()
        self.noted.clear()
        self.noted.addItems([f"{kind_text(m)}: {m.content}" for m in noted])
        self.noted.setVisible(bool(noted))
        self.noted_label.setVisible(bool(noted))
        self.play.setEnabled(bool(self.memories))
        self.status.setText("" if self._recording(None) else "This conversation has no recording.")
        ids = [m.id for m in self.memories]
        if ids:
            self.turns.selectRow(ids.index(focus_id) if focus_id in ids else 0)
            self.prepare_selected()  # selectRow is silent when the row was already selected
        self.turns.setFocus()

    def selected(self):
        rows = self.turns.selectionModel().selectedRows()
        return self.memories[rows[0].row()] if rows else None

    def prepare_selected(self) -> None:
        m = self.selected()
        if m is not None and self._recording(m):
            self.playback.prepare(self._recording(m), m.audio_offset)

    def play_selected(self) -> None:
        m = self.selected()
        if m is not None:
            self.playback.play(self._recording(m), m.audio_offset)

    def _recording(self, m) -> str | None:
        if m is not None and m.audio_path:
            return m.audio_path
        if self.conversation and self.conversation.recording_path:
            return self.conversation.recording_path
        return next((t.audio_path for t in self.memories if t.audio_path), None)

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.turns.hasFocus():
            self.play_selected()
            return
        super().keyPressEvent(event)

    def closeEvent(self, event) -> None:
        self.playback.release()
        super().closeEvent(event)
