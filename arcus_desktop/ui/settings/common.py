"""What every settings page shares: a scrolling form whose fields carry their own inline
message line, colours taken from the palette, and the load/store/problems contract."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (QAbstractButton, QComboBox, QFormLayout, QFrame, QHBoxLayout,
                               QLabel, QLineEdit, QPlainTextEdit, QScrollArea, QSizePolicy,
                               QSlider, QSpinBox, QDoubleSpinBox, QStyle, QVBoxLayout, QWidget,
                               QKeySequenceEdit, QListWidget)

from ...bridge.settings_store import AppSettings, Problem, Secrets


def _no_taller(label: QLabel) -> None:
    """A wrapped label keeps its height-for-width but never takes spare height (it
    would show as a gap under its text)."""
    policy = label.sizePolicy()
    policy.setVerticalPolicy(QSizePolicy.Policy.Maximum)
    label.setSizePolicy(policy)


def _no_label() -> QWidget:
    """The label of a row without one: an empty QLabel would take a line of its own
    when a narrow form wraps the row, and no label at all loses height-for-width."""
    nothing = QWidget()
    nothing.setFixedSize(0, 0)
    return nothing


def _dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def error_color(palette: QPalette) -> QColor:
    """A red that reads well on this palette's window colour (light or dark theme)."""
    return QColor("#ff8a80") if _dark(palette) else QColor("#b3261e")


def ok_color(palette: QPalette) -> QColor:
    return QColor("#81c995") if _dark(palette) else QColor("#1e7a34")


class Note(QLabel):
    """Help text under a field: wrapped, selectable, in the palette's quieter text colour."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse
                                     | Qt.TextInteractionFlag.LinksAccessibleByMouse)
        self.setOpenExternalLinks(True)
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        _no_taller(self)
        self.setForegroundRole(QPalette.ColorRole.PlaceholderText)


class Message(QWidget):
    """An inline message with an icon (never colour alone): a problem with the field
    above it, or the result of an action. Hidden while empty."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.icon = QLabel()
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        _no_taller(self.label)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.icon, 0, Qt.AlignmentFlag.AlignTop)
        row.addWidget(self.label, 1)
        self.kind = ""
        self.hide()

    def show_text(self, text: str, kind: str = "error") -> None:
        """kind: "error", "ok" or "info"."""
        if not text:
            self.clear()
            return
        self.kind = kind
        pixmap = {"error": QStyle.StandardPixmap.SP_MessageBoxWarning,
                  "ok": QStyle.StandardPixmap.SP_DialogApplyButton,
                  "info": QStyle.StandardPixmap.SP_MessageBoxInformation}[kind]
        size = self.label.fontMetrics().height()
        self.icon.setPixmap(self.style().standardIcon(pixmap).pixmap(size, size))
        palette = self.label.palette()
        color = {"error": error_color(self.palette()), "ok": ok_color(self.palette())}.get(kind)
        palette.setColor(QPalette.ColorRole.WindowText, color if color is not None else
                         self.palette().color(QPalette.ColorRole.WindowText))
        self.label.setPalette(palette)
        self.label.setText(text)
        self.setAccessibleDescription(text)
        self.show()

    def clear(self) -> None:
        self.kind = ""
        self.label.clear()
        self.hide()

    def text(self) -> str:
        return self.label.text() if not self.isHidden() else ""


def row(*items, stretch: bool = True) -> QWidget:
    """Widgets side by side in one form cell."""
    box = QWidget()
    layout = QHBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    for item in items:
        layout.addWidget(item)
    if stretch:
        layout.addStretch(1)
    return box


class FormScroll(QScrollArea):
    """A scroll area that sizes its page by height-for-width: wrapped notes get the
    lines they need at the width they really have, not at the narrowest width."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)

    def fit(self) -> None:
        body = self.widget()
        if body is not None and body.layout() is not None:
            width = max(self.viewport().width(), body.layout().totalMinimumSize().width())
            body.setMinimumHeight(body.layout().totalHeightForWidth(width))

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self.fit()
        super().resizeEvent(event)

    def setWidget(self, widget: QWidget) -> None:  # noqa: N802 (Qt's name)
        super().setWidget(widget)
        widget.installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt's name)
        if watched is self.widget() and event.type() == QEvent.Type.LayoutRequest:
            self.fit()  # a note or message changed its text: its height may have too
        return super().eventFilter(watched, event)


class Page(QWidget):
    """One page of the dialog. Subclasses build their form with `add_field`, and
    implement `load` (settings -> widgets) and `store` (widgets -> settings)."""

    title = ""
    edited = Signal()  # the user changed something on this page

    def __init__(self, current: Callable[[], AppSettings], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.current = current  # every page's values as they stand, applied or not
        self.fields: dict[str, tuple[QWidget, Message]] = {}
        self._loading = False
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self.scroll = FormScroll()
        body = QWidget()
        self.body = QVBoxLayout(body)
        heading = QLabel(f"<h2>{self.title}</h2>")
        heading.setAccessibleName(self.title)
        self.body.addWidget(heading)
        self.form = self.new_form()
        self.body.addLayout(self.form)
        self.body.addStretch(1)
        self.scroll.setWidget(body)
        outer.addWidget(self.scroll)

    @staticmethod
    def new_form() -> QFormLayout:
        form = QFormLayout()
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        return form

    def add_field(self, key: str | None, label: str, widget: QWidget, note: str = "",
                  form: QFormLayout | None = None, focus: QWidget | None = None,
                  extra: tuple[QWidget, ...] = ()) -> Message:
        """One form row: a label whose mnemonic focuses `focus` (or the widget), and in
        the field column the widget, any `extra` widgets, a help note and the message
        line for problems. `key` ('section/field') routes problems to it."""
        form = form or self.form
        cell = QWidget()
        column = QVBoxLayout(cell)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(3)
        if isinstance(widget, (QSpinBox, QDoubleSpinBox, QComboBox)):
            column.addWidget(widget, 0, Qt.AlignmentFlag.AlignLeft)  # its own width, not the page's
        else:
            column.addWidget(widget)
        for w in extra:
            column.addWidget(w)
        target = focus or widget
        if note:
            column.addWidget(Note(note))
            if not target.accessibleDescription():
                target.setAccessibleDescription(note)
        message = Message()
        column.addWidget(message)
        if label:
            caption = QLabel(label)
            caption.setBuddy(target)
            if not target.accessibleName():
                target.setAccessibleName(label.replace("&", "").rstrip(":"))
            form.addRow(caption, cell)
        else:
            form.addRow(_no_label(), cell)
        if key:
            self.fields[key] = (target, message)
        self._watch(widget)
        return message

    def _watch(self, widget: QWidget) -> None:
        """Report edits of `widget` (and of the inputs inside it) as `edited`."""
        for w in [widget, *widget.findChildren(QWidget)]:
            signal = None
            if isinstance(w, (QLineEdit, QPlainTextEdit)) and w.isReadOnly():
                continue  # shows, does not edit
            if isinstance(w, QLineEdit):
                signal = w.textChanged
            elif isinstance(w, QPlainTextEdit):
                signal = w.textChanged
            elif isinstance(w, QAbstractButton) and w.isCheckable():
                signal = w.toggled
            elif isinstance(w, QComboBox):
                signal = w.currentIndexChanged
            elif isinstance(w, (QSpinBox, QDoubleSpinBox, QSlider)):
                signal = w.valueChanged
            elif isinstance(w, QKeySequenceEdit):
                signal = w.keySequenceChanged
            elif isinstance(w, QListWidget):
                signal = w.currentRowChanged
            if signal is not None and not w.property("arcus_watched"):
                w.setProperty("arcus_watched", True)
                signal.connect(self._changed)

    def _changed(self, *_args) -> None:
        if not self._loading:
            self.edited.emit()

    def load_all(self, s: AppSettings, secrets: Secrets) -> None:
        with self.quietly():
            self.load(s, secrets)

    @contextmanager
    def quietly(self):
        """Changes made by the program, not the user: no `edited`."""
        was, self._loading = self._loading, True
        try:
            yield
        finally:
            self._loading = was

    # --- what pages implement ----------------------------------------------------------

    def load(self, s: AppSettings, secrets: Secrets) -> None:
        raise NotImplementedError

    def store(self, s: AppSettings, secrets: Secrets) -> None:
        raise NotImplementedError

    def problems(self) -> list[Problem]:
        """Checks only this page can make (they need what it has loaded)."""
        return []

    # --- messages ----------------------------------------------------------------------

    def show_problems(self, problems: list[Problem]) -> list[Problem]:
        """Show each problem under its field; those with no field here are returned."""
        mine = {p.key: p.text for p in problems if p.key in self.fields}
        for key, (_widget, message) in self.fields.items():
            if key in mine:
                message.show_text(mine[key], "error")
            elif message.kind == "error":
                message.clear()
        return [p for p in problems if p.key not in self.fields]

    def focus_problem(self, key: str) -> None:
        widget, _message = self.fields[key]
        self.scroll.ensureWidgetVisible(widget)
        widget.setFocus(Qt.FocusReason.OtherFocusReason)
