"""A global hotkey to start and end a conversation from anywhere.

`GlobalHotkey` picks the backend this desktop allows:

- Windows: RegisterHotKey (windows.py); press only.
- macOS: Carbon RegisterEventHotKey (macos.py); press and release, no permission asked.
- X11: XGrabKey through libxcb (x11.py); press and release.
- Wayland: the xdg-desktop-portal GlobalShortcuts portal (portal.py); the desktop asks
  the user to confirm the key; press and release.

Where none works it says so in `status`: "No global hotkey here: bind
`arcus-desktop --toggle` to a key…", the command the running app answers over its
instance socket (bridge/single_instance.py).

Hotkeys are written in Qt's portable form, e.g. "Ctrl+Alt+Space" (keys.py).
"""

from __future__ import annotations

import logging
import os
import sys

from PySide6.QtCore import QObject, Signal

from .keys import DEFAULT, Hotkey, HotkeyError, native, parse

__all__ = ["DEFAULT", "GlobalHotkey", "Hotkey", "HotkeyError", "parse", "pick_backend",
           "NO_HOTKEY"]

log = logging.getLogger(__name__)
NO_HOTKEY = ("No global hotkey here: bind `arcus-desktop --toggle` to a key in your "
             "desktop's keyboard settings.")


def is_wayland() -> bool:
    return bool(os.environ.get("WAYLAND_DISPLAY")) or \
        os.environ.get("XDG_SESSION_TYPE", "").lower() == "wayland"


def pick_backend(parent: QObject | None = None):
    """The backend for this desktop; HotkeyError when it has none."""
    if sys.platform == "win32":
        from .windows import WindowsBackend

        return WindowsBackend(parent)
    if sys.platform == "darwin":
        from .macos import MacBackend

        return MacBackend(parent)
    if is_wayland():  # an X11 grab would only see keys typed into X11 windows
        from .portal import PortalBackend

        return PortalBackend(parent=parent)
    if os.environ.get("DISPLAY"):
        from .x11 import X11Backend

        return X11Backend(parent=parent)
    raise HotkeyError("This desktop has neither an X11 display nor a Wayland portal.", "")


class GlobalHotkey(QObject):
    pressed = Signal()
    released = Signal()  # only from backends with supports_release
    status_changed = Signal(str)  # one line for the tooltip and the settings

    def __init__(self, backend_factory=pick_backend, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._factory = backend_factory
        self.backend = None
        self.hotkey: Hotkey | None = None
        self.active = False
        self.status = NO_HOTKEY
        self.error: str | None = None

    @property
    def supports_release(self) -> bool:
        return bool(self.backend is not None and self.backend.supports_release)

    def set_hotkey(self, text: str | None) -> bool:
        """Register `text` ("Ctrl+Alt+Space"; empty or None: no hotkey). False when it
        failed at once; a portal may still fail later (see `status_changed`)."""
        self.clear()
        if not text:
            self._set_status(NO_HOTKEY.replace("No global hotkey here", "No global hotkey set"))
            return True
        try:
            self.hotkey = parse(text)
            if self.backend is None:
                self.backend = self._factory(self)
                self.backend.pressed.connect(self.pressed)
                self.backend.released.connect(self.released)
                self.backend.registered.connect(self._registered)
                self.backend.failed.connect(self._failed)
            self._set_status(f"Hotkey {native(self.hotkey)}: waiting for the desktop")
            self.backend.register(self.hotkey)
        except HotkeyError as e:
            self._failed(e.message, e.hint)
            return False
        return True

    def clear(self) -> None:
        if self.backend is not None:
            self.backend.unregister()
        self.active, self.error = False, None

    def close(self) -> None:
        if self.backend is not None:
            self.backend.close()
            self.backend = None
        self.active = False

    def _registered(self, shown: str) -> None:
        self.active, self.error = True, None
        self._set_status(f"Hotkey: {shown}")

    def _failed(self, message: str, hint: str) -> None:
        log.info("global hotkey: %s %s", message, hint)
        self.active, self.error = False, message
        self._set_status(f"{message} {hint or NO_HOTKEY}".strip())

    def _set_status(self, text: str) -> None:
        self.status = text
        self.status_changed.emit(text)
