"""The two speakers' colours, taken from the palette so light and dark themes both work:
the user gets the palette's highlight, the assistant a hue away from it, each kept
readable against the palette's base."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette

from .turns import ASSISTANT

ASSISTANT_HUE_SHIFT = 150  # degrees round the colour wheel from the highlight


def is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Base).lightnessF() < 0.5


def accent(palette: QPalette, speaker: str) -> QColor:
    base = palette.color(QPalette.ColorRole.Highlight)
    hue, sat, light, _ = base.getHslF()
    if hue < 0:  # a grey highlight: pick a blue for the user
        hue, sat = 210 / 360, 0.6
    if speaker == ASSISTANT:
        hue = (hue + ASSISTANT_HUE_SHIFT / 360) % 1.0
    sat = max(sat, 0.45)
    light = 0.68 if is_dark(palette) else 0.40  # contrast with the background
    return QColor.fromHslF(hue, min(sat, 0.85), light)


def tint(palette: QPalette, speaker: str, strength: float = 0.18) -> QColor:
    """The speaker's colour mixed into the background: for markers and lanes."""
    return mix(palette.color(QPalette.ColorRole.Base), accent(palette, speaker), strength)


def mix(a: QColor, b: QColor, t: float) -> QColor:
    return QColor.fromRgbF(a.redF() + (b.redF() - a.redF()) * t,
                           a.greenF() + (b.greenF() - a.greenF()) * t,
                           a.blueF() + (b.blueF() - a.blueF()) * t)

