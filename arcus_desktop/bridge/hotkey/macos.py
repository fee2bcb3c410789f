"""macOS: Carbon's RegisterEventHotKey through ctypes.

Carbon hot keys need no Accessibility or Input Monitoring permission (event taps and
pynput do, and would make macOS ask the user), and they report both press and release,
so hold-to-talk works. Keys are physical positions on an ANSI keyboard (kVK_ANSI_*).
Qt's portable "Ctrl" is the Command key on macOS and "Meta" the Control key; this
backend follows Qt, so "Ctrl+Alt+Space" is ⌘⌥Space there.

Not exercised by the test suite (it runs on Linux); its key table is.
"""

from __future__ import annotations

import ctypes
import itertools
import sys
from ctypes import POINTER, Structure, c_int32, c_uint32, c_void_p

from PySide6.QtCore import QObject, Signal

from .keys import ALT, CTRL, META, SHIFT, Hotkey, HotkeyError, mac_keycode, native

CMD_KEY, SHIFT_KEY, OPTION_KEY, CONTROL_KEY = 0x0100, 0x0200, 0x0800, 0x1000
MODIFIERS = {CTRL: CMD_KEY, SHIFT: SHIFT_KEY, ALT: OPTION_KEY, META: CONTROL_KEY}
K_EVENT_CLASS_KEYBOARD = int.from_bytes(b"keyb", "big")
K_EVENT_HOT_KEY_PRESSED, K_EVENT_HOT_KEY_RELEASED = 5, 6
K_EVENT_PARAM_DIRECT_OBJECT = int.from_bytes(b"----", "big")
TYPE_EVENT_HOT_KEY_ID = int.from_bytes(b"hkid", "big")
SIGNATURE = int.from_bytes(b"ARCS", "big")
EVENT_HOT_KEY_EXISTS = -9878
_ids = itertools.count(1)


class _HotKeyID(Structure):
    _fields_ = [("signature", c_uint32), ("id", c_uint32)]


class _EventTypeSpec(Structure):
    _fields_ = [("eventClass", c_uint32), ("eventKind", c_uint32)]


_HANDLER = ctypes.CFUNCTYPE(c_int32, c_void_p, c_void_p, c_void_p)


class MacBackend(QObject):
    pressed = Signal()
    released = Signal()
    registered = Signal(str)
    failed = Signal(str, str)

    name = "macOS"
    supports_release = True

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        if sys.platform != "darwin":
            raise HotkeyError("The macOS hotkey backend runs on macOS only.")
        c = ctypes.CDLL("/System/Library/Frameworks/Carbon.framework/Carbon")
        c.GetApplicationEventTarget.restype = c_void_p
        c.InstallEventHandler.argtypes = [c_void_p, _HANDLER, ctypes.c_ulong,
                                          POINTER(_EventTypeSpec), c_void_p, POINTER(c_void_p)]
        c.InstallEventHandler.restype = c_int32
        c.RemoveEventHandler.argtypes = [c_void_p]
        c.RegisterEventHotKey.argtypes = [c_uint32, c_uint32, _HotKeyID, c_void_p, c_uint32,
                                          POINTER(c_void_p)]
        c.RegisterEventHotKey.restype = c_int32
        c.UnregisterEventHotKey.argtypes = [c_void_p]
        c.GetEventKind.argtypes = [c_void_p]
        c.GetEventKind.restype = c_uint32
        c.GetEventParameter.argtypes = [c_void_p, c_uint32, c_uint32, c_void_p, ctypes.c_ulong,
                                        c_void_p, c_void_p]
        c.GetEventParameter.restype = c_int32
        self._carbon = c
        self._id: int | None = None
        self._ref = c_void_p()
        self._callback = _HANDLER(self._on_event)  # kept: Carbon holds a raw pointer
        specs = (_EventTypeSpec * 2)((K_EVENT_CLASS_KEYBOARD, K_EVENT_HOT_KEY_PRESSED),
                                     (K_EVENT_CLASS_KEYBOARD, K_EVENT_HOT_KEY_RELEASED))
        self._handler = c_void_p()
        status = c.InstallEventHandler(c.GetApplicationEventTarget(), self._callback, 2, specs,
                                       None, ctypes.byref(self._handler))
        if status != 0:
            raise HotkeyError(f"macOS refused a hotkey handler (status {status}).", "")

    def _on_event(self, _call, event, _data) -> int:
        hotkey_id = _HotKeyID()
        self._carbon.GetEventParameter(event, K_EVENT_PARAM_DIRECT_OBJECT, TYPE_EVENT_HOT_KEY_ID,
                                       None, ctypes.sizeof(hotkey_id), None,
                                       ctypes.byref(hotkey_id))
        if hotkey_id.signature == SIGNATURE and hotkey_id.id == self._id:
            if self._carbon.GetEventKind(event) == K_EVENT_HOT_KEY_PRESSED:
                self.pressed.emit()
            else:
                self.released.emit()
        return 0

    def register(self, hotkey: Hotkey) -> None:
        self.unregister()
        mods = 0
        for name in hotkey.modifiers:
            mods |= MODIFIERS[name]
        hotkey_id = next(_ids)
        status = self._carbon.RegisterEventHotKey(
            mac_keycode(hotkey.key), mods, _HotKeyID(SIGNATURE, hotkey_id),
            self._carbon.GetApplicationEventTarget(), 0, ctypes.byref(self._ref))
        if status == EVENT_HOT_KEY_EXISTS:
            raise HotkeyError(f"{native(hotkey)} is already taken by another program.",
                              "Choose another hotkey in Settings.")
        if status != 0:
            raise HotkeyError(f"macOS refused the hotkey {native(hotkey)} (status {status}).",
                              "Choose another hotkey in Settings.")
        self._id = hotkey_id
        self.registered.emit(native(hotkey))

    def unregister(self) -> None:
        if self._id is not None:
            self._carbon.UnregisterEventHotKey(self._ref)
            self._id = None

    def close(self) -> None:
        self.unregister()
        if self._handler:
            self._carbon.RemoveEventHandler(self._handler)
            self._handler = c_void_p()
