"""Hotkey: a global shortcut captured by pressing it, and hold-to-talk."""

from __future__ import annotations

import os
import sys

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QCheckBox, QKeySequenceEdit, QPushButton

from ...bridge.settings_store import AppSettings, Secrets
from .common import Note, Page, row
from ..indicators import visible

WAYLAND_NOTE = (
    "On Wayland, Arcus asks your desktop for the shortcut through the GlobalShortcuts "
    "portal, and the desktop may ask you to confirm it. If your desktop has no such portal, "
    "bind the command <code>arcus-desktop --toggle</code> to a key in your desktop's "
    "keyboard settings instead; it starts and ends a conversation just the same.")
MACOS_NOTE = ("macOS asks for the Accessibility permission the first time the shortcut is "
              "used: allow Arcus under System Settings → Privacy &amp; Security.")


def on_wayland() -> bool:
    from PySide6.QtGui import QGuiApplication

    return (os.environ.get("XDG_SESSION_TYPE", "").lower() == "wayland"
            or QGuiApplication.platformName() == "wayland")


class HotkeyPage(Page):
    title = "Hotkey"

    def __init__(self, current, parent=None) -> None:
        super().__init__(current, parent)
        self.shortcut = QKeySequenceEdit()
        self.shortcut.setMaximumSequenceLength(1)  # one combination, then recording stops
        self.shortcut.setClearButtonEnabled(True)
        self.clear = QPushButton("C&lear")
        self.clear.setAccessibleName("Clear the shortcut")
        self.clear.clicked.connect(self.shortcut.clear)
        self.add_field("hotkey/shortcut", "&Shortcut:", row(self.shortcut, self.clear),
                       note="Click the field (or tab to it) and press the combination, for "
                            "example Ctrl+Alt+Space. It works in every application.",
                       focus=self.shortcut)
        self.hold = visible(QCheckBox("&Hold to talk"))
        self.add_field("hotkey/hold_to_talk", "", self.hold,
                       note="On: Arcus listens only while you hold the keys down. Off: the "
                            "shortcut starts a conversation and ends it.")
        self.platform_note = Note()
        if sys.platform.startswith("linux"):
            self.platform_note.setText(WAYLAND_NOTE if on_wayland() else
                                       "On X11 the shortcut works as it is. " + WAYLAND_NOTE)
        elif sys.platform == "darwin":
            self.platform_note.setText(MACOS_NOTE)
        else:
            self.platform_note.hide()
        self.platform_note.setAccessibleName("How the shortcut works on this system")
        self.add_field(None, "", self.platform_note)

    def shortcut_text(self) -> str:
        return self.shortcut.keySequence().toString(QKeySequence.SequenceFormat.PortableText)

    def load(self, s: AppSettings, secrets: Secrets) -> None:
        self.shortcut.setKeySequence(QKeySequence.fromString(
            s.hotkey.shortcut, QKeySequence.SequenceFormat.PortableText))
        self.hold.setChecked(s.hotkey.hold_to_talk)

    def store(self, s: AppSettings, secrets: Secrets) -> None:
        s.hotkey.shortcut = self.shortcut_text()
        s.hotkey.hold_to_talk = self.hold.isChecked()
