"""The tray icon: its picture and tooltip follow the app's state, a left click starts a
conversation or ends it, and its menu holds the rest (Talk/End, Mute, Memories…,
Settings…, Quit). Errors arrive as notifications that say what to do next.

What the menu opens is not decided here: `open_memories`, `open_settings` and
`quit_requested` are signals the app wires up.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QIcon
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from ..bridge.controller import (ERROR, IDLE, LISTENING, LOADING, MUTED, READY, SPEAKING,
                                 AppController)
from ..core.errors import plain_hint
from .tray_icons import state_icon

APP = "Arcus Desktop"
NOTIFY_MS = 10_000
SETUP_TOOLTIP = "Arcus — set up needed: click to start setup"


def describe(controller: AppController) -> str:
    """The state in a few words, for the tooltip, the status window and `--toggle`."""
    state = controller.state
    if state == LOADING and controller.engine_state == "ready":  # the talk is on its way
        return "Starting the conversation…"
    if state == LOADING:
        pct = round(controller.load_fraction * 100)
        what = controller.load_what or "the model"
        line = f"Loading: {pct}% ({what})" if pct else f"Loading: {what}"
        return line + (" — the conversation starts when it is ready"
                       if controller.want_talk else "")
    if state == LISTENING:
        return "Listening — click to end"
    if state == SPEAKING:
        return "Speaking — click to end"
    if state == MUTED:
        return "Muted: the assistant cannot hear you — click to end"
    if state == ERROR:
        message, hint = controller.error or ("The engine stopped.", "")
        return f"{message} {plain_hint(hint)}".strip()
    if state == READY:
        return "Ready — click to talk"
    return "Click to talk"


class Tray(QObject):
    open_memories = Signal()
    open_settings = Signal()
    quit_requested = Signal()
    setup_requested = Signal()  # a click or Talk while nothing is set up yet


    def __init__(self, controller: AppController, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.lines: dict[str, str] = {}  # more tooltip lines: "sync", "hotkey"
        self.setup_needed = False  # no model and no team server yet: talking cannot work
        self.icon = QSystemTrayIcon(self)
        self.menu = QMenu()
        self.talk_action = QAction("Talk", self.menu)
        self.talk_action.triggered.connect(self._talk)
        self.mute_action = QAction("Mute microphone", self.menu)
        self.mute_action.setCheckable(True)
        self.mute_action.toggled.connect(controller.set_muted)
        self.memories_action = QAction("Memories…", self.menu)
        self.memories_action.triggered.connect(self.open_memories)
        self.settings_action = QAction("Settings…", self.menu)
        self.settings_action.triggered.connect(self.open_settings)
        self.quit_action = QAction("Quit", self.menu)
        self.quit_action.triggered.connect(self.quit_requested)
        self.menu.addAction(self.talk_action)
        self.menu.addAction(self.mute_action)
        self.menu.addSeparator()
        self.menu.addAction(self.memories_action)
        self.menu.addAction(self.settings_action)
        self.menu.addSeparator()
        self.menu.addAction(self.quit_action)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)
        controller.changed.connect(self.refresh)
        controller.notify.connect(self.show_notification)
        self.refresh()

    def show(self) -> None:
        self.icon.show()

    def hide(self) -> None:
        self.icon.hide()

    def set_line(self, key: str, text: str) -> None:
        """A line under the state in the tooltip (sync state, the hotkey)."""
        if text:
            self.lines[key] = text
        else:
            self.lines.pop(key, None)
        self.refresh()

    def set_setup_needed(self, needed: bool) -> None:
        """Before setup a click opens the setup wizard, and the tooltip says so."""
        self.setup_needed = needed
        self.refresh()

    def _offers_setup(self) -> bool:
        return self.setup_needed and not self.controller.talking

    def tooltip(self) -> str:
        first = SETUP_TOOLTIP if self._offers_setup() else f"{APP}: {describe(self.controller)}"
        return "\n".join([first, *self.lines.values()])

    def refresh(self) -> None:
        c = self.controller
        state = c.state if c.state != READY else IDLE
        self.icon.setIcon(state_icon(state, c.load_fraction))
        self.icon.setToolTip(self.tooltip())
        self.talk_action.setText("End conversation" if c.talking else
                                 "Set up Arcus…" if self._offers_setup() else "Talk")
        if self.mute_action.isChecked() != c.muted:
            self.mute_action.blockSignals(True)
            self.mute_action.setChecked(c.muted)
            self.mute_action.blockSignals(False)

    def current_icon(self) -> QIcon:
        return self.icon.icon()

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        # A double click also sends Trigger first: acting on Trigger only keeps it one toggle.
        if reason == QSystemTrayIcon.ActivationReason.Trigger:
            self._talk()
        elif reason == QSystemTrayIcon.ActivationReason.MiddleClick:
            self.controller.set_muted(not self.controller.muted)

    def _talk(self, *_checked) -> None:
        if self._offers_setup():
            self.setup_requested.emit()
        else:
            self.controller.toggle_talk()

    def show_notification(self, message: str, hint: str, is_error: bool) -> None:
        kind = (QSystemTrayIcon.MessageIcon.Critical if is_error
                else QSystemTrayIcon.MessageIcon.Information)
        self.icon.showMessage(APP, f"{message}\n{plain_hint(hint)}".strip(), kind, NOTIFY_MS)
