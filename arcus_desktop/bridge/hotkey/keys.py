"""Hotkey strings ("Ctrl+Alt+Space", Qt's portable QKeySequence text) and the key codes
each platform wants for them."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence

K = Qt.Key
M = Qt.KeyboardModifier
CTRL, ALT, SHIFT, META = "ctrl", "alt", "shift", "meta"  # Meta: the Super/Windows key

DEFAULT = "Ctrl+Alt+Space"


class HotkeyError(Exception):
    """A hotkey that cannot be used, with what to do instead."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(f"{message} {hint}".strip())
        self.message, self.hint = message, hint


@dataclass(frozen=True)
class Hotkey:
    key: int  # a Qt.Key value
    modifiers: frozenset[str]

    def text(self) -> str:
        """Back to the portable form, e.g. "Ctrl+Alt+Space"."""
        return portable(self)


_MODIFIER_KEYS = {K.Key_Control, K.Key_Alt, K.Key_Shift, K.Key_Meta, K.Key_AltGr,
                  K.Key_Super_L, K.Key_Super_R, K.Key_Hyper_L, K.Key_Hyper_R, K.Key_CapsLock,
                  K.Key_NumLock, K.Key_ScrollLock}


def parse(text: str) -> Hotkey:
    """A hotkey from its portable text; HotkeyError if it is not one key plus modifiers."""
    seq = QKeySequence.fromString(text.strip(), QKeySequence.SequenceFormat.PortableText)
    if seq.count() != 1 or seq[0].key() == K.Key_unknown:
        raise HotkeyError(f"“{text}” is not a key combination.",
                          "Write one like Ctrl+Alt+Space: modifiers, then one key.")
    combo = seq[0]
    key, mods = combo.key(), combo.keyboardModifiers()
    if key in _MODIFIER_KEYS:
        raise HotkeyError(f"“{text}” has no key besides its modifiers.",
                          "Add a key, as in Ctrl+Alt+Space.")
    names = frozenset(name for flag, name in ((M.ControlModifier, CTRL), (M.AltModifier, ALT),
                                              (M.ShiftModifier, SHIFT), (M.MetaModifier, META))
                      if mods & flag)
    function_key = K.Key_F1 <= key <= K.Key_F35
    if not (names - {SHIFT}) and not function_key:
        raise HotkeyError(f"“{text}” would take that key away from typing everywhere.",
                          "Add Ctrl, Alt or Meta (the Super key), as in Ctrl+Alt+Space.")
    return Hotkey(int(key.value if hasattr(key, "value") else key), names)


def portable(hotkey: Hotkey) -> str:
    mods = M.NoModifier
    for name, flag in ((CTRL, M.ControlModifier), (ALT, M.AltModifier),
                       (SHIFT, M.ShiftModifier), (META, M.MetaModifier)):
        if name in hotkey.modifiers:
            mods |= flag
    seq = QKeySequence(mods | K(hotkey.key))
    return seq.toString(QKeySequence.SequenceFormat.PortableText)


def native(hotkey: Hotkey) -> str:
    """As the user's platform writes it (Ctrl+Alt+Space, ⌃⌥Space on macOS)."""
    return QKeySequence.fromString(portable(hotkey)).toString(
        QKeySequence.SequenceFormat.NativeText)


# -- X11 keysyms ---------------------------------------------------------------------------

_X11_SPECIAL = {
    K.Key_Escape: 0xFF1B, K.Key_Tab: 0xFF09, K.Key_Backspace: 0xFF08, K.Key_Return: 0xFF0D,
    K.Key_Enter: 0xFF8D, K.Key_Insert: 0xFF63, K.Key_Delete: 0xFFFF, K.Key_Pause: 0xFF13,
    K.Key_Print: 0xFF61, K.Key_Home: 0xFF50, K.Key_End: 0xFF57, K.Key_Left: 0xFF51,
    K.Key_Up: 0xFF52, K.Key_Right: 0xFF53, K.Key_Down: 0xFF54, K.Key_PageUp: 0xFF55,
    K.Key_PageDown: 0xFF56, K.Key_Menu: 0xFF67,
}


def x11_keysym(key: int) -> int:
    if K.Key_F1.value <= key <= K.Key_F35.value:
        return 0xFFBE + key - K.Key_F1.value
    if ord("A") <= key <= ord("Z"):
        return key + 32  # keysyms of letters are the lower-case ones
    if 0x20 <= key <= 0xFF:  # the rest of Latin-1: the same numbers
        return key
    try:
        return _X11_SPECIAL[K(key)]
    except (KeyError, ValueError):
        raise HotkeyError("That key cannot be a global hotkey on X11.",
                          "Choose a letter, digit, F-key or Space with modifiers.") from None


# The XDG shortcut format of the GlobalShortcuts portal: "CTRL+ALT+space".
_XDG_MODS = {CTRL: "CTRL", ALT: "ALT", SHIFT: "SHIFT", META: "LOGO"}
_XKB_NAMES = {K.Key_Space: "space", K.Key_Escape: "Escape", K.Key_Tab: "Tab",
              K.Key_Backspace: "BackSpace", K.Key_Return: "Return", K.Key_Insert: "Insert",
              K.Key_Delete: "Delete", K.Key_Pause: "Pause", K.Key_Print: "Print",
              K.Key_Home: "Home", K.Key_End: "End", K.Key_Left: "Left", K.Key_Up: "Up",
              K.Key_Right: "Right", K.Key_Down: "Down", K.Key_PageUp: "Prior",
              K.Key_PageDown: "Next", K.Key_Menu: "Menu", K.Key_Comma: "comma",
              K.Key_Period: "period", K.Key_Slash: "slash", K.Key_Semicolon: "semicolon",
              K.Key_Minus: "minus", K.Key_Equal: "equal", K.Key_Apostrophe: "apostrophe",
              K.Key_BracketLeft: "bracketleft", K.Key_BracketRight: "bracketright",
              K.Key_Backslash: "backslash", K.Key_QuoteLeft: "grave"}


def xdg_trigger(hotkey: Hotkey) -> str:
    mods = [_XDG_MODS[m] for m in (CTRL, ALT, SHIFT, META) if m in hotkey.modifiers]
    key = hotkey.key
    if K.Key_F1.value <= key <= K.Key_F35.value:
        name = f"F{key - K.Key_F1.value + 1}"
    elif ord("A") <= key <= ord("Z"):
        name = chr(key + 32)
    elif ord("0") <= key <= ord("9"):
        name = chr(key)
    else:
        try:
            name = _XKB_NAMES[K(key)]
        except (KeyError, ValueError):
            name = QKeySequence(K(key)).toString(QKeySequence.SequenceFormat.PortableText)
    return "+".join([*mods, name])


# -- Windows virtual-key codes -------------------------------------------------------------

_WIN_SPECIAL = {
    K.Key_Space: 0x20, K.Key_Escape: 0x1B, K.Key_Tab: 0x09, K.Key_Backspace: 0x08,
    K.Key_Return: 0x0D, K.Key_Enter: 0x0D, K.Key_Insert: 0x2D, K.Key_Delete: 0x2E,
    K.Key_Pause: 0x13, K.Key_Print: 0x2C, K.Key_Home: 0x24, K.Key_End: 0x23,
    K.Key_Left: 0x25, K.Key_Up: 0x26, K.Key_Right: 0x27, K.Key_Down: 0x28,
    K.Key_PageUp: 0x21, K.Key_PageDown: 0x22,
}


def windows_vk(key: int) -> int | None:
    """The virtual-key code, or None for a character whose key depends on the layout
    (the Windows backend asks VkKeyScanW for those)."""
    if K.Key_F1.value <= key <= K.Key_F24.value:
        return 0x70 + key - K.Key_F1.value
    if ord("A") <= key <= ord("Z") or ord("0") <= key <= ord("9"):
        return key
    try:
        return _WIN_SPECIAL[K(key)]
    except (KeyError, ValueError):
        return None


# -- macOS virtual key codes (positions on an ANSI keyboard) -------------------------------

_MAC_LETTERS = dict(zip("ASDFHGZXCV", (0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
                                        0x09)))
_MAC_LETTERS.update(zip("BQWERYT", (0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x10, 0x11)))
_MAC_LETTERS.update(zip("OUIPLJKNM", (0x1F, 0x20, 0x22, 0x23, 0x25, 0x26, 0x28, 0x2D, 0x2E)))
_MAC_LETTERS.update(zip("1234657890", (0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x1A, 0x1C, 0x19,
                                        0x1D)))
_MAC_F = (0x7A, 0x78, 0x63, 0x76, 0x60, 0x61, 0x62, 0x64, 0x65, 0x6D, 0x67, 0x6F, 0x69, 0x6B,
          0x71, 0x6A, 0x40, 0x4F, 0x50, 0x5A)
_MAC_SPECIAL = {
    K.Key_Space: 0x31, K.Key_Return: 0x24, K.Key_Enter: 0x4C, K.Key_Tab: 0x30,
    K.Key_Backspace: 0x33, K.Key_Escape: 0x35, K.Key_Delete: 0x75, K.Key_Home: 0x73,
    K.Key_End: 0x77, K.Key_PageUp: 0x74, K.Key_PageDown: 0x79, K.Key_Left: 0x7B,
    K.Key_Right: 0x7C, K.Key_Down: 0x7D, K.Key_Up: 0x7E,
}


def mac_keycode(key: int) -> int:
    if 0x20 < key <= 0x7E and chr(key) in _MAC_LETTERS:
        return _MAC_LETTERS[chr(key)]
    if K.Key_F1.value <= key < K.Key_F1.value + len(_MAC_F):
        return _MAC_F[key - K.Key_F1.value]
    try:
        return _MAC_SPECIAL[K(key)]
    except (KeyError, ValueError):
        raise HotkeyError("That key cannot be a global hotkey on macOS.",
                          "Choose a letter, digit, F-key or Space with modifiers.") from None
