"""The transcript view: follows the newest words until the user scrolls up, and follows
again once they scroll back to the bottom; copies the selected turns (or all of them)."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence, QPainter, QPalette
from PySide6.QtWidgets import QAbstractItemView, QListView, QWidget

from .delegate import TurnDelegate
from .model import TranscriptModel

EMPTY_TEXT = "What you and Arcus say appears here."
BOTTOM_SLACK = 4  # pixels from the bottom that still count as "at the bottom"


class TranscriptView(QListView):
    following_changed = Signal(bool)

    def __init__(self, model: TranscriptModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setModel(model)
        self.setItemDelegate(TurnDelegate(self))
        self.setObjectName("transcript")
        self.setAccessibleName("Transcript")
        self.setAccessibleDescription("The conversation so far, newest at the bottom")
        self.setWordWrap(True)
        self.setUniformItemSizes(False)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._following = True
        bar = self.verticalScrollBar()
        bar.rangeChanged.connect(self._range_changed)
        bar.valueChanged.connect(self._value_changed)
        model.dataChanged.connect(self._row_changed)
        model.modelReset.connect(self.jump_to_latest)

        self.copy_action = QAction("&Copy", self)
        self.copy_action.setShortcut(QKeySequence.StandardKey.Copy)
        self.copy_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.copy_action.triggered.connect(self.copy)
        self.copy_all_action = QAction("Copy &all", self)
        self.copy_all_action.triggered.connect(self.copy_all)
        self.select_all_action = QAction("Select a&ll", self)
        self.select_all_action.setShortcut(QKeySequence.StandardKey.SelectAll)
        self.select_all_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.select_all_action.triggered.connect(self.selectAll)
        for action in (self.copy_action, self.copy_all_action, self.select_all_action):
            self.addAction(action)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)

    # --- following the newest words ----------------------------------------------------

    @property
    def following(self) -> bool:
        """Whether new words scroll into view (true until the user scrolls up)."""
        return self._following

    def jump_to_latest(self) -> None:
        self._set_following(True)
        self.scrollToBottom()

    def _set_following(self, following: bool) -> None:
        if following != self._following:
            self._following = following
            self.following_changed.emit(following)

    def _range_changed(self, _low: int, high: int) -> None:
        if self._following:
            self.verticalScrollBar().setValue(high)

    def _value_changed(self, value: int) -> None:
        self._set_following(value >= self.verticalScrollBar().maximum() - BOTTOM_SLACK)

    def _row_changed(self, _first: QModelIndex, _last: QModelIndex) -> None:
        # A turn that grows may wrap onto another line: lay the rows out again, once for
        # however many changes come before the event loop runs (sizes are cached).
        self.scheduleDelayedItemsLayout()

    # --- copying -----------------------------------------------------------------------

    def selected_text(self) -> str:
        rows = [i.row() for i in self.selectionModel().selectedRows()]
        return self.model().text(rows) if rows else self.model().text()

    def copy(self) -> None:
        """The selected turns (all of them when none is selected) to the clipboard."""
        QGuiApplication.clipboard().setText(self.selected_text())

    def copy_all(self) -> None:
        QGuiApplication.clipboard().setText(self.model().text())

    def keyPressEvent(self, event) -> None:
        if event.matches(QKeySequence.StandardKey.Copy):  # the item view's own copy takes
            self.copy()  # one cell's text; ours takes whole turns
            event.accept()
            return
        super().keyPressEvent(event)

    # --- an empty transcript says what it is for ------------------------------------------

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        if self.model() is not None and self.model().rowCount() == 0:
            painter = QPainter(self.viewport())
            painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(self.viewport().rect().adjusted(12, 12, -12, -12),
                             Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, EMPTY_TEXT)
