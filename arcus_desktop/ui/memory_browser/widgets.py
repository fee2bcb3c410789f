"""Small widgets the browser's windows share."""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (QCheckBox, QFrame, QHBoxLayout, QLabel, QMessageBox, QSizePolicy,
                               QSlider, QStyle, QToolButton, QWidget)

from ..indicators import visible


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
        self.option = visible(QCheckBox(option)) if option else None
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
