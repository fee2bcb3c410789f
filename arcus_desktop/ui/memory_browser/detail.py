"""The selected memory's editable pane, and the dialog that adds a memory."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFormLayout,
                               QFrame, QLabel, QPlainTextEdit, QPushButton, QScrollArea,
                               QStackedWidget, QVBoxLayout, QWidget)

from .text import (KIND_NAMES, SPEAKERS, conversation_title, full_time, kind_text, offset_text,
                   source_text, when_text)
from .widgets import _row, _slider
from ..indicators import visible


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
        self.pinned = visible(QCheckBox("&Pinned: always offered to Arcus first"))
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
        self.pinned = visible(QCheckBox("&Pinned: always offered to Arcus first"))
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
