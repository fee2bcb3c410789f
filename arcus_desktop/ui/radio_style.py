"""Radio buttons that show in a dark theme. Fusion draws a radio's ring a shade darker
than the window and fills it with the base colour: on a dark palette both are near the
window's own colour, so an unchecked radio all but vanishes. Under a dark palette the
ring is drawn in the text colour instead (and the checked dot in the highlight)."""

from __future__ import annotations

from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QWidget


def is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def radio_sheet(palette: QPalette) -> str:
    """The style sheet for `palette`: "" on a light one (the style's own radios show)."""
    if not is_dark(palette):
        return ""
    role = QPalette.ColorRole
    ring = palette.color(role.WindowText).name()
    base = palette.color(role.Base).name()
    dot = palette.color(role.Highlight).name()
    off = palette.color(QPalette.ColorGroup.Disabled, role.WindowText).name()
    return (
        "QRadioButton::indicator { width: 12px; height: 12px; border-radius: 8px; "
        f"border: 2px solid {ring}; background: {base}; }}"
        f"QRadioButton::indicator:checked {{ border-color: {dot}; background: "
        "qradialgradient(cx:0.5, cy:0.5, radius:0.5, fx:0.5, fy:0.5, "
        f"stop:0 {dot}, stop:0.55 {dot}, stop:0.65 {base}, stop:1 {base}); }}"
        f"QRadioButton::indicator:disabled {{ border-color: {off}; }}"
    )


def follow_palette(widget: QWidget) -> None:
    """Apply the sheet for `widget`'s palette; call again when the palette changes."""
    sheet = radio_sheet(widget.palette())
    if widget.styleSheet() != sheet:
        widget.setStyleSheet(sheet)
