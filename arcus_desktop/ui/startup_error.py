"""A start that failed, said in a window: started from the menu or at login, nothing shows
what the app prints (the desktop entry passes --window-errors; a windowed build has no
stderr at all)."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication, QMessageBox


def show(message: str, hint: str) -> None:
    """Blocks until the user closes it."""
    app = QApplication.instance() or QApplication([])  # noqa: F841 (the box needs one)
    box = QMessageBox(QMessageBox.Icon.Critical, "Arcus Desktop", message)
    box.setInformativeText(hint)
    box.exec()
