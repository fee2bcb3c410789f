"""Windows: RegisterHotKey on a hidden window of ours, WM_HOTKEY read through a Qt
native event filter. No permission is needed. Windows reports only the key press, so
hold-to-talk is not offered here.

Not exercised by the test suite (it runs on Linux); its key table is.
"""

from __future__ import annotations

import ctypes
import itertools
import sys

from PySide6.QtCore import QAbstractNativeEventFilter, QCoreApplication, QObject, Signal
from PySide6.QtGui import QWindow

from .keys import ALT, CTRL, META, SHIFT, Hotkey, HotkeyError, native, windows_vk

WM_HOTKEY = 0x0312
MOD_ALT, MOD_CONTROL, MOD_SHIFT, MOD_WIN, MOD_NOREPEAT = 0x1, 0x2, 0x4, 0x8, 0x4000
MODIFIERS = {ALT: MOD_ALT, CTRL: MOD_CONTROL, SHIFT: MOD_SHIFT, META: MOD_WIN}
ERROR_HOTKEY_ALREADY_REGISTERED = 1409
_ids = itertools.count(0xA7C0)  # RegisterHotKey ids of an application: 0x0000-0xBFFF


class _Filter(QAbstractNativeEventFilter):
    def __init__(self, backend: "WindowsBackend") -> None:
        super().__init__()
        self.backend = backend

    def nativeEventFilter(self, event_type, message):
        if bytes(event_type) in (b"windows_generic_MSG", b"windows_dispatcher_MSG"):
            from ctypes import wintypes

            msg = wintypes.MSG.from_address(int(message))
            if msg.message == WM_HOTKEY and msg.wParam == self.backend.hotkey_id:
                self.backend.pressed.emit()
                return True, 0
        return False, 0


class WindowsBackend(QObject):
    pressed = Signal()
    released = Signal()  # never sent: WM_HOTKEY has no key-up
    registered = Signal(str)
    failed = Signal(str, str)

    name = "Windows"
    supports_release = False

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        if sys.platform != "win32":
            raise HotkeyError("The Windows hotkey backend runs on Windows only.")
        from ctypes import wintypes

        self._user32 = ctypes.WinDLL("user32", use_last_error=True)
        self._user32.RegisterHotKey.argtypes = [wintypes.HWND, ctypes.c_int, wintypes.UINT,
                                                wintypes.UINT]
        self._user32.RegisterHotKey.restype = wintypes.BOOL
        self._user32.UnregisterHotKey.argtypes = [wintypes.HWND, ctypes.c_int]
        self._user32.VkKeyScanW.argtypes = [wintypes.WCHAR]
        self._user32.VkKeyScanW.restype = ctypes.c_short
        # WM_HOTKEY to a window of ours, not to the thread: thread messages are lost while a
        # modal loop (a menu, a dialog, a window being dragged) runs.
        self._window = QWindow()
        self._window.create()
        self._hwnd = int(self._window.winId())
        self.hotkey_id: int | None = None
        self._filter = _Filter(self)
        QCoreApplication.instance().installNativeEventFilter(self._filter)

    def register(self, hotkey: Hotkey) -> None:
        self.unregister()
        vk = windows_vk(hotkey.key)
        if vk is None:
            scan = self._user32.VkKeyScanW(chr(hotkey.key)) if hotkey.key < 0x10000 else -1
            if scan == -1:
                raise HotkeyError(f"No key on this keyboard types {native(hotkey)}.",
                                  "Choose another hotkey.")
            vk = scan & 0xFF
        mods = MOD_NOREPEAT
        for name in hotkey.modifiers:
            mods |= MODIFIERS[name]
        hotkey_id = next(_ids)
        if not self._user32.RegisterHotKey(self._hwnd, hotkey_id, mods, vk):
            err = ctypes.get_last_error()
            if err == ERROR_HOTKEY_ALREADY_REGISTERED:
                raise HotkeyError(f"{native(hotkey)} is already taken by another program.",
                                  "Choose another hotkey in Settings.")
            raise HotkeyError(f"Windows refused the hotkey {native(hotkey)} (error {err}).",
                              "Choose another hotkey in Settings.")
        self.hotkey_id = hotkey_id
        self.registered.emit(native(hotkey))

    def unregister(self) -> None:
        if self.hotkey_id is not None:
            self._user32.UnregisterHotKey(self._hwnd, self.hotkey_id)
            self.hotkey_id = None

    def close(self) -> None:
        self.unregister()
        QCoreApplication.instance().removeNativeEventFilter(self._filter)
        self._window.destroy()
