"""The tray application shell: icon, menu and a status window.

The conversation window, settings and hotkey arrive with the tray-app work; for now the
window says whether the model is installed and what to do if it is not.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtGui import QAction, QIcon
from PySide6.QtWidgets import (QApplication, QLabel, QMainWindow, QMenu, QPushButton,
                               QSystemTrayIcon, QVBoxLayout, QWidget)

from .. import __version__
from ..bridge.sync_service import describe, start_for_app
from ..core.errors import ArcusError

ICON = Path(__file__).resolve().parents[2] / "resources" / "icons" / "arcus.svg"


def model_status() -> str:
    from ..engine import checkpoint

    try:
        files = checkpoint.locate()
    except ArcusError as e:
        return e.user_text()
    return f"PersonaPlex is installed in {files.root}."


class StatusWindow(QMainWindow):
    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("Arcus Desktop")
        body = QWidget()
        layout = QVBoxLayout(body)
        title = QLabel(f"<b>Arcus Desktop</b> {__version__}")
        self.status = QLabel(model_status())
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(self.status.textInteractionFlags())
        self.sync_line = QLabel("")  # filled in when sync is on
        self.sync_line.hide()
        self.memories_button = QPushButton("&Memories…")
        self.memories_button.clicked.connect(self.show_memories)
        quit_button = QPushButton("&Quit")
        quit_button.clicked.connect(QApplication.quit)
        for widget in (title, self.status, self.sync_line, self.memories_button, quit_button):
            layout.addWidget(widget)
        self.setCentralWidget(body)
        self.resize(420, 160)
        self.memory_service = None  # opened on first use: the tray starts without the database
        self.memory_browser = None

    def show_memories(self) -> None:
        from ..bridge.memory_service import MemoryService
        from .memory_browser import MemoryBrowser

        if self.memory_service is None:  # the app owns it: it outlives this window
            self.memory_service = MemoryService(parent=QApplication.instance())
        if self.memory_browser is None:
            self.memory_browser = MemoryBrowser(self.memory_service)
        self.memory_browser.showNormal()
        self.memory_browser.raise_()
        self.memory_browser.activateWindow()


def build_tray(window: StatusWindow, icon: QIcon) -> QSystemTrayIcon:
    tray = QSystemTrayIcon(icon, window)
    tray.setToolTip("Arcus Desktop")
    menu = QMenu(window)
    show = QAction("Open", menu)
    show.triggered.connect(window.showNormal)
    memories = QAction("Memories…", menu)
    memories.triggered.connect(window.show_memories)
    quit_action = QAction("Quit", menu)
    quit_action.triggered.connect(QApplication.quit)
    menu.addAction(show)
    menu.addAction(memories)
    menu.addAction(quit_action)
    tray.setContextMenu(menu)
    tray.activated.connect(lambda _reason: window.showNormal())
    return tray


def run() -> int:
    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName("Arcus Desktop")
    icon = QIcon(str(ICON))
    app.setWindowIcon(icon)
    window = StatusWindow()
    tray = None
    if QSystemTrayIcon.isSystemTrayAvailable():
        app.setQuitOnLastWindowClosed(False)
        tray = build_tray(window, icon)
        tray.show()
    sync = start_for_app(parent=app)
    if sync is not None:
        sync.status_changed.connect(lambda status: show_sync(window, tray, status))
        app.aboutToQuit.connect(sync.shutdown)
    window.show()
    return app.exec()


def show_sync(window: StatusWindow, tray: QSystemTrayIcon | None, status) -> None:
    """Sync state where the user looks: the status window and the tray tooltip."""
    text = describe(status)
    window.sync_line.setText(text)
    window.sync_line.show()
    if tray is not None:
        tray.setToolTip(f"Arcus Desktop\n{text}")
