"""X11: a passive key grab (XGrabKey) on the root window, through libxcb and ctypes.

The backend opens its own connection to the X server (so it works whatever Qt's
platform plugin is) and reads it from the Qt event loop with a socket notifier. X11
reports key release, so hold-to-talk works here. Key auto-repeat sends a release and a
press with the same timestamp; such pairs are dropped so a held key stays held.

Under a Wayland session an X11 grab only sees keys while an X11 window has focus, so
the facade does not pick this backend there.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from ctypes import POINTER, Structure, c_char_p, c_int, c_uint, c_uint8, c_uint16, c_uint32, c_void_p

from PySide6.QtCore import QObject, QSocketNotifier, Signal

from .keys import ALT, CTRL, META, SHIFT, Hotkey, HotkeyError, native, x11_keysym

KEY_PRESS, KEY_RELEASE = 2, 3
GRAB_MODE_ASYNC = 1
BAD_ACCESS = 10
SHIFT_MASK, LOCK_MASK, CONTROL_MASK, MOD1, MOD2, MOD4 = 1, 2, 4, 8, 16, 64
MODIFIER_MASKS = {SHIFT: SHIFT_MASK, CTRL: CONTROL_MASK, ALT: MOD1, META: MOD4}
# Caps Lock and Num Lock change the state a key arrives with: grab every combination.
IGNORED_LOCKS = (0, LOCK_MASK, MOD2, LOCK_MASK | MOD2)


class _Cookie(Structure):
    _fields_ = [("sequence", c_uint)]


class _ScreenIterator(Structure):
    _fields_ = [("data", c_void_p), ("rem", c_int), ("index", c_int)]


class _Event(Structure):  # xcb_key_press_event_t; every event is at least 32 bytes
    _fields_ = [("response_type", c_uint8), ("detail", c_uint8), ("sequence", c_uint16),
                ("time", c_uint32), ("root", c_uint32), ("event", c_uint32),
                ("child", c_uint32), ("root_x", ctypes.c_int16), ("root_y", ctypes.c_int16),
                ("event_x", ctypes.c_int16), ("event_y", ctypes.c_int16),
                ("state", c_uint16), ("same_screen", c_uint8), ("pad0", c_uint8)]


class _Error(Structure):
    _fields_ = [("response_type", c_uint8), ("error_code", c_uint8)]


def _libraries():
    try:
        xcb = ctypes.CDLL(ctypes.util.find_library("xcb") or "libxcb.so.1")
        keysyms = ctypes.CDLL(ctypes.util.find_library("xcb-keysyms") or "libxcb-keysyms.so.1")
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError as e:
        raise HotkeyError("The X11 libraries for global hotkeys are missing.",
                          "Install libxcb1 and libxcb-keysyms1.") from e
    xcb.xcb_connect.restype = c_void_p
    xcb.xcb_connect.argtypes = [c_char_p, POINTER(c_int)]
    xcb.xcb_connection_has_error.argtypes = [c_void_p]
    xcb.xcb_get_setup.restype = c_void_p
    xcb.xcb_get_setup.argtypes = [c_void_p]
    xcb.xcb_setup_roots_iterator.restype = _ScreenIterator
    xcb.xcb_setup_roots_iterator.argtypes = [c_void_p]
    xcb.xcb_screen_next.argtypes = [POINTER(_ScreenIterator)]
    xcb.xcb_grab_key_checked.restype = _Cookie
    xcb.xcb_grab_key_checked.argtypes = [c_void_p, c_uint8, c_uint32, c_uint16, c_uint8,
                                         c_uint8, c_uint8]
    xcb.xcb_ungrab_key_checked.restype = _Cookie
    xcb.xcb_ungrab_key_checked.argtypes = [c_void_p, c_uint8, c_uint32, c_uint16]
    xcb.xcb_request_check.restype = c_void_p
    xcb.xcb_request_check.argtypes = [c_void_p, _Cookie]
    xcb.xcb_flush.argtypes = [c_void_p]
    xcb.xcb_get_file_descriptor.argtypes = [c_void_p]
    xcb.xcb_poll_for_event.restype = c_void_p
    xcb.xcb_poll_for_event.argtypes = [c_void_p]
    xcb.xcb_disconnect.argtypes = [c_void_p]
    keysyms.xcb_key_symbols_alloc.restype = c_void_p
    keysyms.xcb_key_symbols_alloc.argtypes = [c_void_p]
    keysyms.xcb_key_symbols_free.argtypes = [c_void_p]
    keysyms.xcb_key_symbols_get_keycode.restype = POINTER(c_uint8)
    keysyms.xcb_key_symbols_get_keycode.argtypes = [c_void_p, c_uint32]
    libc.free.argtypes = [c_void_p]
    return xcb, keysyms, libc


class X11Backend(QObject):
    pressed = Signal()
    released = Signal()
    registered = Signal(str)  # the hotkey as the user's platform writes it
    failed = Signal(str, str)  # message, way forward (after registering, e.g. X went away)

    name = "X11"
    supports_release = True

    def __init__(self, display: str | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._xcb, self._keysyms, self._libc = _libraries()
        display = display or os.environ.get("DISPLAY")
        if not display:
            raise HotkeyError("There is no X11 display.", "")
        screen = c_int(0)
        self._conn = self._xcb.xcb_connect(display.encode(), ctypes.byref(screen))
        if not self._conn or self._xcb.xcb_connection_has_error(self._conn):
            self._conn = None
            raise HotkeyError(f"Cannot connect to the X11 display {display}.", "")
        it = self._xcb.xcb_setup_roots_iterator(self._xcb.xcb_get_setup(self._conn))
        for _ in range(screen.value):
            self._xcb.xcb_screen_next(ctypes.byref(it))
        self._root = ctypes.cast(it.data, POINTER(c_uint32))[0]  # xcb_screen_t.root
        self._grabs: list[tuple[int, int]] = []  # (keycode, modifiers)
        self._keycodes: set[int] = set()
        self._down = False
        fd = self._xcb.xcb_get_file_descriptor(self._conn)
        self._notifier = QSocketNotifier(fd, QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._drain)

    def register(self, hotkey: Hotkey) -> None:
        """Grab the key on the root window; HotkeyError if another program has it."""
        self.unregister()
        keycodes = self._keycodes_for(x11_keysym(hotkey.key))
        if not keycodes:
            raise HotkeyError(f"No key on this keyboard types {native(hotkey)}.",
                              "Choose another hotkey.")
        mods = 0
        for name in hotkey.modifiers:
            mods |= MODIFIER_MASKS[name]
        cookies = []
        for keycode in keycodes:
            for locks in IGNORED_LOCKS:
                cookie = self._xcb.xcb_grab_key_checked(self._conn, 1, self._root, mods | locks,
                                                        keycode, GRAB_MODE_ASYNC,
                                                        GRAB_MODE_ASYNC)
                cookies.append(cookie)
                self._grabs.append((keycode, mods | locks))
        taken = False
        for cookie in cookies:
            error = self._xcb.xcb_request_check(self._conn, cookie)
            if error:
                taken |= ctypes.cast(error, POINTER(_Error))[0].error_code == BAD_ACCESS
                self._libc.free(error)
        if taken:
            self.unregister()
            raise HotkeyError(f"{native(hotkey)} is already taken by another program.",
                              "Choose another hotkey in Settings.")
        self._keycodes = set(keycodes)
        self._drain()  # events the checks read while waiting for their replies
        self.registered.emit(native(hotkey))

    def unregister(self) -> None:
        if self._conn is None:
            return
        for keycode, mods in self._grabs:
            self._xcb.xcb_ungrab_key_checked(self._conn, keycode, self._root, mods)
        self._grabs, self._keycodes, self._down = [], set(), False
        self._xcb.xcb_flush(self._conn)

    def close(self) -> None:
        if self._conn is None:
            return
        self.unregister()
        self._notifier.setEnabled(False)
        self._xcb.xcb_disconnect(self._conn)
        self._conn = None

    def _keycodes_for(self, keysym: int) -> list[int]:
        syms = self._keysyms.xcb_key_symbols_alloc(self._conn)
        try:
            codes = self._keysyms.xcb_key_symbols_get_keycode(syms, keysym)
            found = []
            if codes:
                i = 0
                while codes[i]:
                    found.append(codes[i])
                    i += 1
                self._libc.free(codes)
            return found
        finally:
            self._keysyms.xcb_key_symbols_free(syms)

    def _drain(self, *_args) -> None:
        if self._conn is None:
            return
        events = []
        while ptr := self._xcb.xcb_poll_for_event(self._conn):
            e = ctypes.cast(ptr, POINTER(_Event))[0]
            events.append((e.response_type & 0x7F, e.detail, e.time))
            self._libc.free(ptr)
        if self._xcb.xcb_connection_has_error(self._conn):
            self._notifier.setEnabled(False)
            self._xcb.xcb_disconnect(self._conn)
            self._conn = None
            self.failed.emit("The connection to the X server was lost.",
                             "Restart Arcus Desktop to get the hotkey back.")
            return
        transitions, self._down = key_transitions(events, self._keycodes, self._down)
        for pressed in transitions:
            (self.pressed if pressed else self.released).emit()


def key_transitions(events, keycodes, down: bool) -> tuple[list[bool], bool]:
    """Presses (True) and releases (False) of the hotkey in (type, keycode, time) events,
    and whether it is down after them. Auto-repeat's release+press pairs (same keycode,
    same time, one after the other) are not transitions: the key is still held."""
    out = []
    skip = False
    for i, (kind, keycode, time) in enumerate(events):
        if skip:
            skip = False
            continue
        if keycode not in keycodes:
            continue
        if kind == KEY_RELEASE:
            following = events[i + 1] if i + 1 < len(events) else None
            if following == (KEY_PRESS, keycode, time):
                skip = True
            elif down:
                down = False
                out.append(False)
        elif kind == KEY_PRESS and not down:
            down = True
            out.append(True)
    return out, down
