"""The memory browser: find, read, correct, add and delete what Arcus remembers, open the
conversation a memory came from and play its recording.

Widgets only. Every store operation goes through `bridge.memory_service`, which answers
with signals; no call here waits on the database. Confirmations and dialogs are opened
with `open()` (never `exec()`), so nothing blocks and tests can drive them.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from PySide6.QtCore import (QAbstractTableModel, QDate, QDateTime, QEvent, QItemSelectionModel,
                            QModelIndex, QObject, Qt, QTimer, QUrl, Signal)
from PySide6.QtGui import QAction, QFont, QKeySequence, QPalette
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QDateEdit, QDialog,
                               QDialogButtonBox, QFileDialog, QFormLayout, QFrame, QGridLayout,
                               QHBoxLayout,
                               QHeaderView, QLabel, QLineEdit, QListWidget, QMainWindow,
                               QMessageBox, QPlainTextEdit, QPushButton, QScrollArea, QSizePolicy,
                               QSlider, QSplitter, QStackedWidget, QStyle, QTableView,
                               QTableWidget, QTableWidgetItem, QToolButton, QVBoxLayout, QWidget)

from ..bridge.memory_service import MemoryService

SEARCH_DELAY_MS = 250  # typing pauses shorter than this do not start a search
LIST_LIMIT = 200
SEARCH_K = 50
NARROW = 760  # below this width the detail pane goes under the table

KIND_FILTERS = [("All kinds", None), ("Conversation turns", "episodic"), ("Facts", "semantic"),
                ("Preferences", "procedural")]
KIND_NAMES = {"episodic": "Conversation turn", "semantic": "Fact", "procedural": "Preference"}
DATE_FILTERS = [("Any time", None), ("Today", 0), ("Last 7 days", 6), ("Last 30 days", 29),
                ("Custom range…", "custom")]
SPEAKERS = {"user": "You", "assistant": "Arcus"}
SOURCES = {"user": "Added by you", "conversation": "Said in a conversation",
           "summary": "Summary of a conversation", "cue:remember": "You asked Arcus to remember it",
           "cue:preference": "A preference you mentioned", "cue:correction": "A correction you made"}
SHORT_SOURCES = {"user": "You", "conversation": "Conversation", "summary": "Summary",
                 "cue:remember": "Asked to remember", "cue:preference": "Mentioned",
                 "cue:correction": "Correction"}


# --- formatting ------------------------------------------------------------------------

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


# --- results table ---------------------------------------------------------------------

class MemoryTableModel(QAbstractTableModel):
    """Memories in the order the store ranked them; a header click sorts by a column and
    a third click (clearable indicator, column -1) brings the ranking back."""

    HEADERS = ("Kind", "Memory", "When", "Importance", "Source")
    TEXT = 1

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ranked: list = []
        self._rows: list = []
        self._sort = (-1, Qt.SortOrder.AscendingOrder)

    def set_memories(self, memories: list) -> None:
        self.beginResetModel()
        self._ranked = list(memories)
        self._rows = self._sorted()
        self.endResetModel()

    def memory(self, row: int):
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, memory_id: str) -> int:
        return next((i for i, m in enumerate(self._rows) if m.id == memory_id), -1)

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        m = self.memory(index.row())
        if m is None:
            return None
        col = index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            return (kind_text(m), m.content, when_text(m.occurred_at), importance_text(m),
                    source_text(m.source, short=True))[col]
        if role == Qt.ItemDataRole.ToolTipRole:
            return (None, m.content, full_time(m.occurred_at), None, source_text(m.source))[col]
        if role == Qt.ItemDataRole.FontRole and col == 3 and m.pinned:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.UserRole:
            return m
        return None

    def sort(self, column: int, order=Qt.SortOrder.AscendingOrder) -> None:
        self._sort = (column, order)
        self.layoutAboutToBeChanged.emit()
        old = self.persistentIndexList()
        ids = [self._rows[i.row()].id for i in old]
        self._rows = self._sorted()
        place = {m.id: r for r, m in enumerate(self._rows)}
        self.changePersistentIndexList(old, [self.index(place[mid], i.column())
                                             for mid, i in zip(ids, old)])
        self.layoutChanged.emit()

    def _sorted(self) -> list:
        column, order = self._sort
        keys: dict[int, Callable] = {
            0: kind_text, 1: lambda m: m.content.lower(), 2: lambda m: m.occurred_at,
            3: lambda m: (m.pinned, m.importance), 4: lambda m: source_text(m.source, True)}
        if column not in keys:
            return list(self._ranked)
        return sorted(self._ranked, key=keys[column],
                      reverse=order == Qt.SortOrder.DescendingOrder)


# --- small parts -----------------------------------------------------------------------

class Banner(QFrame):
    """A dismissible message strip above the results, for errors and notices that the
    status bar would let slip by. Tooltip colours, so it follows the palette."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.setBackgroundRole(QPalette.ColorRole.ToolTipBase)
        self.setForegroundRole(QPalette.ColorRole.ToolTipText)
        self.icon = QLabel()
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        close = QToolButton()
        close.setText("Dismiss")
        close.setAccessibleName("Dismiss message")
        close.clicked.connect(self.hide)
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 4, 4, 4)
        row.addWidget(self.icon, 0, Qt.AlignmentFlag.AlignTop)
        row.addWidget(self.label, 1)
        row.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    def show_message(self, text: str, error: bool = False) -> None:
        icon = (QStyle.StandardPixmap.SP_MessageBoxWarning if error
                else QStyle.StandardPixmap.SP_MessageBoxInformation)
        self.icon.setPixmap(self.style().standardIcon(icon).pixmap(20, 20))
        self.label.setText(text)
        self.setAccessibleDescription(text)
        self.show()

    def text(self) -> str:
        return self.label.text() if not self.isHidden() else ""


class Confirmation(QMessageBox):
    """A non-blocking yes/no for destructive actions, with an optional checkbox. Cancel is
    the default, so Enter never deletes by accident."""

    def __init__(self, parent: QWidget, title: str, text: str, action: str,
                 on_confirm: Callable[[bool], None], option: str | None = None) -> None:
        super().__init__(QMessageBox.Icon.Warning, title, text,
                         QMessageBox.StandardButton.Cancel, parent)
        self.confirm_button = self.addButton(action, QMessageBox.ButtonRole.DestructiveRole)
        self.setDefaultButton(QMessageBox.StandardButton.Cancel)
        self.option = QCheckBox(option) if option else None
        if self.option:
            self.setCheckBox(self.option)
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.buttonClicked.connect(
            lambda button: on_confirm(bool(self.option and self.option.isChecked()))
            if button == self.confirm_button else None)


def _slider(value: float = 0.5) -> tuple[QSlider, QLabel]:
    slider = QSlider(Qt.Orientation.Horizontal)
    slider.setRange(0, 100)
    slider.setPageStep(10)
    slider.setAccessibleName("Importance")
    label = QLabel()
    label.setMinimumWidth(QLabel("100%").sizeHint().width())
    slider.valueChanged.connect(lambda v: label.setText(f"{v}%"))
    slider.setValue(round(value * 100))
    label.setText(f"{slider.value()}%")
    return slider, label


def _row(*widgets) -> QHBoxLayout:
    row = QHBoxLayout()
    row.setContentsMargins(0, 0, 0, 0)
    for w in widgets:
        row.addWidget(w) if isinstance(w, QWidget) else row.addStretch(1)
    return row


# --- detail pane -----------------------------------------------------------------------

class DetailPane(QScrollArea):
    """The selected memory, editable. `changes()` says what differs from the store."""

    dirty_changed = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.memory = None
        self._loading = False
        self.conversation = None  # the memory's Conversation, once loaded
        self.conversation_memories: list = []
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.stack = QStackedWidget()
        empty = QLabel("Select a memory to see and change it.")
        empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        empty.setWordWrap(True)
        empty.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.stack.addWidget(empty)
        self.stack.addWidget(self._build_form())
        self.setWidget(self.stack)
        self.setMinimumWidth(260)

    def _build_form(self) -> QWidget:
        page = QWidget()
        box = QVBoxLayout(page)
        self.heading = QLabel()
        heading_font = self.heading.font()
        heading_font.setPointSizeF(heading_font.pointSizeF() * 1.15)
        heading_font.setBold(True)
        self.heading.setFont(heading_font)
        self.text = QPlainTextEdit()
        self.text.setAccessibleName("Memory text")
        self.text.setTabChangesFocus(True)
        self.text.setMinimumHeight(60)
        self.text.setMaximumHeight(120)  # long enough for a memory; the rest stays in view
        self.kind = QComboBox()
        for kind, name in KIND_NAMES.items():
            self.kind.addItem(name, kind)
        self.importance, importance_value = _slider()
        self.pinned = QCheckBox("&Pinned: always offered to Arcus first")
        self.speaker, self.conversation_label, self.occurred, self.source, self.updated = (
            QLabel() for _ in range(5))
        for label in (self.speaker, self.conversation_label, self.occurred, self.source,
                      self.updated):
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        text_label = QLabel("Te&xt:")  # Alt+T is the To date; mnemonics are unique per window
        text_label.setBuddy(self.text)
        form.addRow(text_label, self.text)
        form.addRow("&Kind:", self.kind)
        importance_row = QWidget()
        importance_row.setLayout(_row(self.importance, importance_value))
        importance_label = QLabel("&Importance:")
        importance_label.setBuddy(self.importance)
        form.addRow(importance_label, importance_row)
        form.addRow("", self.pinned)
        form.addRow("Said by:", self.speaker)
        form.addRow("Conversation:", self.conversation_label)
        form.addRow("When:", self.occurred)
        form.addRow("Source:", self.source)
        form.addRow("Changed:", self.updated)
        self.save = QPushButton("&Save")
        self.revert = QPushButton("&Revert")
        self.unsaved = QLabel("Unsaved changes")
        self.unsaved.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.open_conversation = QPushButton("Open &conversation…")
        self.forget_conversation = QPushButton("For&get conversation…")
        self.delete = QPushButton("&Delete…")
        box.addWidget(self.heading)
        box.addLayout(form)
        box.addLayout(_row(self.save, self.revert, self.unsaved, None))
        box.addLayout(_row(self.open_conversation, self.forget_conversation, None))
        box.addLayout(_row(self.delete, None))
        box.addStretch(1)
        self.text.textChanged.connect(self._edited)
        self.kind.currentIndexChanged.connect(self._edited)
        self.importance.valueChanged.connect(self._edited)
        self.pinned.toggled.connect(self._edited)
        self.revert.clicked.connect(lambda: self.show_memory(self.memory))
        return page

    def show_memory(self, m) -> None:
        """Show m as stored (dropping edits); None shows the empty page."""
        if m is None or self.memory is None or m.conversation_id != self.memory.conversation_id:
            self.conversation, self.conversation_memories = None, []
        self.memory = m
        if m is None:
            self.stack.setCurrentIndex(0)
            self.dirty_changed.emit(False)
            return
        self._loading = True
        self.heading.setText(kind_text(m) if m.kind != "episodic" else "Conversation turn")
        self.text.setPlainText(m.content)
        self.kind.setCurrentIndex(self.kind.findData(m.kind))
        self.importance.setValue(round(m.importance * 100))
        self.pinned.setChecked(m.pinned)
        self.speaker.setText(SPEAKERS.get(m.speaker, m.speaker) if m.speaker else "—")
        self.occurred.setText(full_time(m.occurred_at))
        self.source.setText(source_text(m.source))
        self.updated.setText(f"{when_text(m.updated_at)} (version {m.version})")
        self._show_conversation()
        self._loading = False
        self.stack.setCurrentIndex(1)
        self._edited()

    def set_conversation(self, conv, memories: list) -> None:
        self.conversation, self.conversation_memories = conv, memories
        self._show_conversation()

    def _show_conversation(self) -> None:
        m, conv = self.memory, self.conversation
        has = bool(m and m.conversation_id)
        self.open_conversation.setEnabled(has)
        self.forget_conversation.setEnabled(has)
        if not has:
            self.conversation_label.setText("—")
        elif conv is None:
            self.conversation_label.setText("…" if not self.conversation_memories
                                            else "(the conversation record is gone)")
        else:
            at = f" (at {offset_text(m.audio_offset)})" if m.audio_offset is not None else ""
            self.conversation_label.setText(
                f"{conversation_title(conv)}, {when_text(conv.started_at)}{at}")

    def changes(self) -> dict:
        m = self.memory
        if m is None:
            return {}
        now = {"content": " ".join(self.text.toPlainText().split()),
               "kind": self.kind.currentData(), "importance": self.importance.value() / 100,
               "pinned": self.pinned.isChecked()}
        return {k: v for k, v in now.items()
                if (round(v * 100) != round(m.importance * 100) if k == "importance"
                    else v != getattr(m, k))}

    @property
    def dirty(self) -> bool:
        return bool(self.changes())

    def _edited(self, *_) -> None:
        if self._loading:
            return
        dirty = self.dirty
        self.save.setEnabled(dirty)
        self.revert.setEnabled(dirty)
        self.unsaved.setVisible(dirty)
        self.dirty_changed.emit(dirty)


# --- dialogs ---------------------------------------------------------------------------

class AddMemoryDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add a memory")
        self.kind = QComboBox()
        self.kind.addItem("Fact", "semantic")
        self.kind.addItem("Preference", "procedural")
        self.text = QPlainTextEdit()
        self.text.setPlaceholderText("For example: My sister's name is Ana.")
        self.text.setTabChangesFocus(True)
        self.text.setAccessibleName("Memory text")
        self.importance, value = _slider()
        self.pinned = QCheckBox("&Pinned: always offered to Arcus first")
        form = QFormLayout(self)
        form.addRow("&Kind:", self.kind)
        text_label = QLabel("&Text:")
        text_label.setBuddy(self.text)
        form.addRow(text_label, self.text)
        row = QWidget()
        row.setLayout(_row(self.importance, value))
        form.addRow("&Importance:", row)
        form.addRow("", self.pinned)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.add_button = self.buttons.addButton("&Add", QDialogButtonBox.ButtonRole.AcceptRole)
        self.add_button.setDefault(True)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)
        self.text.textChanged.connect(
            lambda: self.add_button.setEnabled(bool(self.text.toPlainText().strip())))
        self.add_button.setEnabled(False)
        self.resize(420, 240)

    def values(self) -> tuple[str, str, float, bool]:
        return (self.kind.currentData(), self.text.toPlainText().strip(),
                self.importance.value() / 100, self.pinned.isChecked())


class Playback(QObject):
    """QMediaPlayer behind a guard: Qt Multimedia may be missing its libraries or find no
    sound device, which becomes a message, never a crash. The seek waits for the media to
    load, because a position set before that is dropped."""

    message = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.player = None
        self.unavailable = ""
        self.requested_ms: int | None = None  # the last position asked for
        self._seek_pending = self._play_pending = False
        try:
            from PySide6.QtMultimedia import QAudioOutput, QMediaDevices, QMediaPlayer
        except ImportError as e:
            self.unavailable = ("Recordings cannot be played: Qt Multimedia could not be "
                                f"loaded ({e}).")
            return
        self._qt = QMediaPlayer
        self._devices = QMediaDevices
        self.player = QMediaPlayer(self)
        if not self.player.isAvailable():
            self.unavailable = "Recordings cannot be played: no media backend is available."
            self.player = None
            return
        self.output = QAudioOutput(self)
        self.player.setAudioOutput(self.output)
        self.player.mediaStatusChanged.connect(self._on_status)
        self.player.errorOccurred.connect(
            lambda _err, text: self.message.emit(f"The recording cannot be played ({text})."))

    def prepare(self, path: str | None, offset_s: float | None) -> bool:
        """Load the recording and put the play head at offset_s."""
        if self.player is None:
            self.message.emit(self.unavailable)
            return False
        if not path or not Path(path).is_file():
            self.message.emit(f"The recording {Path(path).name} is missing." if path else
                              "There is no recording of this.")
            return False
        self.requested_ms = max(0, round((offset_s or 0.0) * 1000))
        url = QUrl.fromLocalFile(str(Path(path).resolve()))
        self._seek_pending = True
        if self.player.source() != url:
            self.player.setSource(url)
        self._on_status(self.player.mediaStatus())
        return True

    def play(self, path: str | None, offset_s: float | None) -> None:
        if not self.prepare(path, offset_s):
            return
        if not self._devices.audioOutputs():
            self.message.emit("No sound output device was found, so the recording cannot be "
                              f"played. It is ready at {offset_text(offset_s)}.")
            return
        self._play_pending = True
        self._on_status(self.player.mediaStatus())
        self.message.emit(f"Playing from {offset_text(offset_s)}.")

    def stop(self) -> None:
        self._play_pending = False
        if self.player is not None:
            self.player.stop()

    def release(self) -> None:
        """Let go of the file and the decoder (closing the dialog)."""
        if self.player is not None:
            self.player.stop()
            self.player.setSource(QUrl())

    def _on_status(self, status) -> None:
        S = self._qt.MediaStatus
        if status == S.InvalidMedia:
            self._seek_pending = self._play_pending = False
            return
        if status not in (S.LoadedMedia, S.BufferedMedia, S.BufferingMedia, S.EndOfMedia):
            return
        if self._seek_pending:
            self._seek_pending = False
            self.player.setPosition(self.requested_ms)
        if self._play_pending:
            self._play_pending = False
            self.player.play()


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
            if conv.persona:
                parts.append(f"with {_escape(conv.persona)}")
        self.header.setText(" · ".join(parts))
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
        self.play.setEnabled(self.playback.player is not None and bool(self.memories))
        self.stop.setEnabled(self.playback.player is not None)
        self.status.setText(self.playback.unavailable or (
            "" if self._recording(None) else "This conversation has no recording."))
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
        if m is not None and self.playback.player is not None and self._recording(m):
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


def _count(n: int) -> str:
    return f"{n} memory" if n == 1 else f"{n} memories"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- the window ------------------------------------------------------------------------

class MemoryBrowser(QMainWindow):
    """Browse and edit memories through a MemoryService (which this window does not own:
    closing it leaves the service running)."""

    def __init__(self, service: MemoryService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.confirmation: Confirmation | None = None
        self.add_dialog: AddMemoryDialog | None = None
        self.conversation_dialog: ConversationDialog | None = None
        self._handlers: dict[int, Callable] = {}
        self._query_id: int | None = None
        self._query_text = ""
        self._select_after: tuple[str | None, int, str] | None = None  # id, row, hidden note
        self._narrow: bool | None = None
        self.setWindowTitle("Memories — Arcus Desktop")
        self.setMinimumSize(360, 320)
        self._build()
        self._build_actions()
        service.searched.connect(self._on_results)
        service.listed.connect(self._on_results)
        service.finished.connect(self._on_finished)
        service.failed.connect(self._on_failed)
        service.changed.connect(self._refresh_soon.start)
        service.startup_notices.connect(self.show_notices)
        if service.notices:
            self.show_notices(service.notices)
        self.resize(980, 600)
        self.refresh()

    # --- building --------------------------------------------------------------------

    def _build(self) -> None:
        self.banner = Banner()
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search memories (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.search.setAccessibleName("Search memories")
        self.search.installEventFilter(self)
        search_label = QLabel("Searc&h:")
        search_label.setBuddy(self.search)
        self.kind_filter = QComboBox()
        self.kind_filter.setAccessibleName("Kind of memory")
        for name, kind in KIND_FILTERS:
            self.kind_filter.addItem(name, kind)
        self.date_filter = QComboBox()
        self.date_filter.setAccessibleName("When")
        for name, days in DATE_FILTERS:
            self.date_filter.addItem(name, days)
        self.date_from, self.date_to = QDateEdit(), QDateEdit()
        for edit, name in ((self.date_from, "From"), (self.date_to, "To")):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("d MMM yyyy")
            edit.setAccessibleName(f"{name} date")
        self.date_to.setDate(QDate.currentDate())
        self.date_from.setDate(QDate.currentDate().addDays(-30))
        from_label, to_label = QLabel("Fr&om:"), QLabel("&To:")
        from_label.setBuddy(self.date_from)
        to_label.setBuddy(self.date_to)
        self.custom_dates = QWidget()
        self.custom_dates.setLayout(_row(from_label, self.date_from, to_label, self.date_to, None))
        self.custom_dates.hide()

        self.model = MemoryTableModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setAccessibleName("Memories")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSortIndicatorClearable(True)
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.table.setSortingEnabled(True)
        header.setHighlightSections(False)
        for col in range(self.model.columnCount()):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(MemoryTableModel.TEXT, QHeaderView.ResizeMode.Stretch)
        self.empty = QLabel()
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.empty.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.results = QStackedWidget()
        self.results.addWidget(self.table)
        self.results.addWidget(self.empty)

        self.detail = DetailPane()
        self.splitter = QSplitter()
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self.results)
        self.splitter.addWidget(self.detail)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setSizes([600, 380])

        body = QWidget()
        box = QVBoxLayout(body)
        box.addWidget(self.banner)
        self.filter_grid = QGridLayout()
        self.filter_grid.addWidget(search_label, 0, 0)
        self.filter_grid.addWidget(self.search, 0, 1)
        self.filter_grid.setColumnStretch(1, 1)
        self.filter_box = QWidget()
        self.filter_box.setLayout(_row(self.kind_filter, self.date_filter, None))
        box.addLayout(self.filter_grid)
        box.addWidget(self.custom_dates)
        box.addWidget(self.splitter, 1)
        self.setCentralWidget(body)
        self._arrange(False)
        self.setTabOrder(self.search, self.kind_filter)
        self.setTabOrder(self.kind_filter, self.date_filter)
        self.setTabOrder(self.date_filter, self.date_from)
        self.setTabOrder(self.date_from, self.date_to)
        self.setTabOrder(self.date_to, self.table)

        self._search_timer = QTimer(self, singleShot=True, interval=SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self.refresh)
        self._refresh_soon = QTimer(self, singleShot=True, interval=0)  # one refresh per burst
        self._refresh_soon.timeout.connect(self.refresh)
        self.search.textChanged.connect(self._search_timer.start)
        self.search.returnPressed.connect(self.refresh)
        self.kind_filter.currentIndexChanged.connect(self.refresh)
        self.date_filter.currentIndexChanged.connect(self._date_choice)
        self.date_from.dateChanged.connect(self._custom_dates)
        self.date_to.dateChanged.connect(self._custom_dates)
        self.table.selectionModel().currentRowChanged.connect(self._selected)
        self.detail.save.clicked.connect(self.save)
        self.detail.delete.clicked.connect(self.delete_selected)
        self.detail.open_conversation.clicked.connect(self.open_conversation)
        self.detail.forget_conversation.clicked.connect(self.forget_conversation)
        self.count_label = QLabel()  # what the table holds; showMessage() is for events
        self.count_label.setAccessibleName("Result count")
        self.statusBar().addPermanentWidget(self.count_label)
        self.statusBar().setSizeGripEnabled(True)

    def _build_actions(self) -> None:
        def action(menu, text, slot, shortcut=None, widget=None):
            a = QAction(text, self)
            if shortcut:
                a.setShortcut(QKeySequence(shortcut))
            a.triggered.connect(slot)
            menu.addAction(a)
            (widget or self).addAction(a)
            return a

        file_menu = self.menuBar().addMenu("&File")
        self.import_action = action(file_menu, "&Import…", self.choose_import, "Ctrl+I")
        self.export_action = action(file_menu, "&Export…", self.choose_export, "Ctrl+E")
        file_menu.addSeparator()
        action(file_menu, "&Close", self.close, QKeySequence.StandardKey.Close)
        memory_menu = self.menuBar().addMenu("&Memory")
        self.add_action = action(memory_menu, "&Add memory…", self.add_memory, "Ctrl+N")
        self.save_action = action(memory_menu, "&Save changes", self.save, "Ctrl+S")
        action(memory_menu, "&Revert changes", self.detail.revert.click)
        self.delete_action = action(memory_menu, "&Delete…", self.delete_selected,
                                    QKeySequence.StandardKey.Delete, self.table)
        self.delete_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        memory_menu.addSeparator()
        self.open_action = action(memory_menu, "&Open conversation…", self.open_conversation,
                                  "Ctrl+O")
        self.forget_action = action(memory_menu, "&Forget conversation…",
                                    self.forget_conversation)
        view_menu = self.menuBar().addMenu("&View")
        action(view_menu, "&Find", self._focus_search, QKeySequence.StandardKey.Find)
        action(view_menu, "&Refresh", self.refresh, QKeySequence.StandardKey.Refresh)
        toolbar = self.addToolBar("Memory actions")
        toolbar.setObjectName("memory-actions")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        for a in (self.add_action, self.import_action, self.export_action):
            toolbar.addAction(a)
        self._update_actions()
        self.detail.dirty_changed.connect(lambda _d: self._update_actions())

    def _update_actions(self) -> None:
        m = self.detail.memory
        self.save_action.setEnabled(self.detail.dirty)
        self.delete_action.setEnabled(m is not None)
        self.open_action.setEnabled(bool(m and m.conversation_id))
        self.forget_action.setEnabled(bool(m and m.conversation_id))

    # --- queries -----------------------------------------------------------------------

    def filters(self) -> tuple[list[str] | None, float | None, float | None]:
        kind = self.kind_filter.currentData()
        choice = self.date_filter.currentData()
        since = until = None
        if choice == "custom":
            since = self.date_from.date().startOfDay().toSecsSinceEpoch()
            until = self.date_to.date().addDays(1).startOfDay().toSecsSinceEpoch()
        elif choice is not None:
            since = QDate.currentDate().addDays(-choice).startOfDay().toSecsSinceEpoch()
        return ([kind] if kind else None), since, until

    def refresh(self) -> None:
        """Ask for what the search box and filters describe; the answer fills the table."""
        self._search_timer.stop()
        self._refresh_soon.stop()
        text = self.search.text().strip()
        kinds, since, until = self.filters()
        if text:
            self._query_id = self.service.search(text, kinds, since, until, k=SEARCH_K)
        else:
            self._query_id = self.service.list(kinds, since, until, limit=LIST_LIMIT)
        self._query_text = text
        self.count_label.setText("Searching…" if text else "Loading…")

    def _on_results(self, rid: int, memories: list) -> None:
        if rid != self._query_id:  # an older question; a newer answer is on its way
            return
        current = self.detail.memory.id if self.detail.memory else None
        want_id, want_row, hidden_note = self._select_after or (current, -1, "")
        self._select_after = None
        self.model.set_memories(memories)
        text = self._query_text
        if memories:
            self.results.setCurrentWidget(self.table)
            count = _count(len(memories))
            self.count_label.setText(f"{count} for “{text}”, best match first" if text else
                                     f"{count}, pinned first, then newest")
        else:
            self.empty.setText(f"Nothing matches “{text}” with these filters." if text else
                               "No memories here yet. Arcus remembers what you talk about; "
                               "you can also add facts and preferences yourself (Ctrl+N).")
            self.results.setCurrentWidget(self.empty)
            self.count_label.setText("No memories")
        row = self.model.row_of(want_id) if want_id else -1
        if row < 0 and want_row >= 0 and memories:
            row = min(want_row, len(memories) - 1)
        if want_id and self.model.row_of(want_id) < 0 and hidden_note:
            self.statusBar().showMessage(hidden_note, 8000)
        self._select_row(row)

    def _select_row(self, row: int) -> None:
        if row < 0:
            self.table.clearSelection()
            self._show(None)
            return
        index = self.model.index(row, MemoryTableModel.TEXT)
        unchanged = self.table.currentIndex().row() == row
        flags = QItemSelectionModel.SelectionFlag
        self.table.selectionModel().setCurrentIndex(index, flags.ClearAndSelect | flags.Rows)
        self.table.scrollTo(index)
        if unchanged:  # no currentRowChanged, but the memory may have new values
            self._show(self.model.memory(row))

    def _selected(self, current: QModelIndex, _previous=None) -> None:
        self._show(self.model.memory(current.row()) if current.isValid() else None)

    def _show(self, m) -> None:
        old = self.detail.memory
        if m is not None and old is not None and m.id == old.id and self.detail.dirty:
            return  # a refresh must not throw away what the user is typing
        if old is not None and (m is None or m.id != old.id) and self.detail.dirty:
            self.statusBar().showMessage("Unsaved changes to the previous memory were dropped.",
                                         5000)
        self.detail.show_memory(m)
        self._update_actions()
        if m is not None and m.conversation_id and self.detail.conversation is None:
            self._ask(self.service.conversation(m.conversation_id),
                      lambda result, mid=m.id: self._conversation_info(mid, *result))

    def _conversation_info(self, memory_id: str, conv, memories: list) -> None:
        if self.detail.memory is not None and self.detail.memory.id == memory_id:
            self.detail.set_conversation(conv, memories)

    def _date_choice(self) -> None:
        self.custom_dates.setVisible(self.date_filter.currentData() == "custom")
        self.refresh()

    def _custom_dates(self) -> None:
        self.date_to.setMinimumDate(self.date_from.date())
        if self.date_filter.currentData() == "custom":
            self.refresh()

    def _focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def eventFilter(self, obj, event) -> bool:
        if obj is self.search and event.type() == QEvent.Type.KeyPress:
            if event.key() == Qt.Key.Key_Escape and self.search.text():
                self.search.clear()
                return True
            if event.key() == Qt.Key.Key_Down and self.model.rowCount():
                self.table.setFocus(Qt.FocusReason.TabFocusReason)
                if not self.table.selectionModel().hasSelection():
                    self._select_row(0)
                return True
        return super().eventFilter(obj, event)

    # --- actions -----------------------------------------------------------------------

    def save(self) -> None:
        m, changes = self.detail.memory, self.detail.changes()
        if m is None or not changes:
            return
        self._ask(self.service.update(m.id, **changes), self._saved)
        self.statusBar().showMessage("Saving…")

    def _saved(self, memory) -> None:
        if self.detail.memory is not None and self.detail.memory.id == memory.id:
            self.detail.show_memory(memory)
        self._select_after = (memory.id, -1, "Saved. The memory no longer matches the "
                              "current search or filters.")
        self.statusBar().showMessage("Saved.", 5000)

    def add_memory(self) -> AddMemoryDialog:
        """Opens the add dialog (non-blocking); the memory is added when it is accepted."""
        dialog = AddMemoryDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self._add(*dialog.values()))
        dialog.finished.connect(lambda _r: setattr(self, "add_dialog", None))
        self.add_dialog = dialog
        dialog.open()
        return dialog

    def _add(self, kind: str, content: str, importance: float, pinned: bool) -> None:
        def added(m):
            merged = m.version > 1
            note = ("It said what an existing memory said, so the two were merged."
                    if merged else "Added.")
            self._select_after = (m.id, -1, note + " It is hidden by the current search "
                                  "or filters.")
            self.statusBar().showMessage(note, 6000)

        self._ask(self.service.add(kind, content, importance, pinned), added)

    def delete_selected(self) -> Confirmation | None:
        m = self.detail.memory
        if m is None:
            return None
        row = self.model.row_of(m.id)
        option = ("Also delete the audio recording (kept if other memories still use it)"
                  if m.audio_path else None)

        def deleted(gone: bool) -> None:
            self._select_after = (None, row, "")  # the next one moves up into its place
            self.statusBar().showMessage("Deleted." if gone else "It was already gone.", 5000)

        def delete(with_recording: bool) -> None:
            self._ask(self.service.delete(m.id, with_recording), deleted)

        preview = m.content if len(m.content) < 120 else m.content[:117] + "…"
        return self._confirm("Delete memory", f"Delete this memory for good?\n\n“{preview}”",
                             "&Delete", delete, option)

    def open_conversation(self) -> None:
        m = self.detail.memory
        if m is None or not m.conversation_id:
            return
        cid = m.conversation_id
        self._ask(self.service.conversation(cid),
                  lambda result: self._open_conversation(cid, *result, focus_id=m.id))
        self.statusBar().showMessage("Opening the conversation…")

    def _open_conversation(self, cid: str, conv, memories: list, focus_id: str) -> None:
        if conv is None and not memories:
            self.show_error("That conversation has been forgotten.")
            return
        if self.conversation_dialog is None:
            self.conversation_dialog = ConversationDialog(self)
            self.conversation_dialog.forget_requested.connect(self.forget_conversation)
        self.conversation_dialog.show_conversation(cid, conv, memories, focus_id)
        self.conversation_dialog.show()
        self.conversation_dialog.raise_()
        self.conversation_dialog.activateWindow()
        self.statusBar().clearMessage()

    def forget_conversation(self, cid: str | None = None) -> Confirmation | None:
        """Forget the selected memory's conversation (or the open dialog's, by cid): all
        its memories, and its recording when the box is ticked."""
        dialog = self.conversation_dialog
        if isinstance(cid, str) and dialog is not None and dialog.cid == cid:
            conv, memories, parent = dialog.conversation, dialog.memories, dialog
        else:  # from the detail pane or the menu (clicked/triggered pass a bool)
            m = self.detail.memory
            if m is None or not m.conversation_id:
                return None
            cid, parent = m.conversation_id, self
            conv, memories = self.detail.conversation, [m, *self.detail.conversation_memories]
        title = f"“{conversation_title(conv)}” from {when_text(conv.started_at)}" if conv else \
            "this conversation"
        has_audio = bool(conv and conv.recording_path) or any(x.audio_path for x in memories)
        row = self.model.row_of(self.detail.memory.id) if self.detail.memory else -1

        def forgotten(n: int) -> None:
            self._select_after = (None, row, "")
            self.statusBar().showMessage(f"Forgot the conversation and {_count(n)} from it.", 6000)

        def forget(with_recording: bool) -> None:
            if self.conversation_dialog is not None and self.conversation_dialog.cid == cid:
                self.conversation_dialog.close()
            self._ask(self.service.forget_conversation(cid, with_recording), forgotten)

        return self._confirm(
            "Forget conversation",
            f"Forget {title}? Everything remembered from it (its turns, the facts and "
            "preferences noted in it, its summary) will be deleted for good.",
            "&Forget", forget,
            "Also delete the recording of the conversation" if has_audio else None, parent)

    def choose_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export memories", "arcus-memories.json",
                                              "Arcus memories (*.json)")
        if path:
            self.export_to(path)

    def choose_import(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import memories", "",
                                              "Arcus memories (*.json);;All files (*)")
        if path:
            self.import_from(path)

    def export_to(self, path: str | Path) -> int:
        name = Path(path).name
        self.statusBar().showMessage(f"Exporting to {name}…")
        return self._ask(self.service.export_json(str(path)), lambda n: self.statusBar()
                         .showMessage(f"Exported {n} memories to {name}.", 8000))

    def import_from(self, path: str | Path) -> int:
        name = Path(path).name
        self.statusBar().showMessage(f"Importing {name}…")
        return self._ask(self.service.import_json(str(path)), lambda n: self.statusBar()
                         .showMessage(f"Imported {n} new or newer memories from {name}.", 8000))

    # --- messages ----------------------------------------------------------------------

    def show_error(self, text: str) -> None:
        self.banner.show_message(text, error=True)
        self.statusBar().showMessage(text, 10000)

    def show_notices(self, notices: list) -> None:
        if notices:
            self.banner.show_message("\n\n".join(notices))

    def _confirm(self, title, text, action, on_confirm, option=None, parent=None) -> Confirmation:
        if self.confirmation is not None:
            self.confirmation.close()
        box = Confirmation(parent or self, title, text, action, on_confirm, option)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _r: setattr(self, "confirmation", None))
        self.confirmation = box
        box.open()
        return box

    def _ask(self, rid: int, on_result: Callable) -> int:
        self._handlers[rid] = on_result
        return rid

    def _on_finished(self, rid: int, result) -> None:
        handler = self._handlers.pop(rid, None)
        if handler is not None:
            handler(result)

    def _on_failed(self, rid: int, text: str) -> None:
        ours = self._handlers.pop(rid, None) is not None or rid == self._query_id
        if ours:
            self.show_error(text)

    # --- layout and lifetime -----------------------------------------------------------

    def resizeEvent(self, event) -> None:
        self._arrange(event.size().width() < NARROW)
        super().resizeEvent(event)

    def _arrange(self, narrow: bool) -> None:
        """Narrow windows stack the detail under the table, put the filters on a line of
        their own and leave the importance and source columns to the detail pane."""
        if narrow == self._narrow:
            return
        self._narrow = narrow
        self.splitter.setOrientation(Qt.Orientation.Vertical if narrow
                                     else Qt.Orientation.Horizontal)
        self.filter_grid.removeWidget(self.filter_box)
        self.filter_grid.addWidget(self.filter_box, *((1, 1) if narrow else (0, 2)))
        for column in (3, 4):
            self.table.setColumnHidden(column, narrow)

    def closeEvent(self, event) -> None:
        if self.conversation_dialog is not None:
            self.conversation_dialog.close()
        super().closeEvent(event)
