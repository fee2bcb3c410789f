"""Tray icons per state, drawn from resources/icons/arcus.svg.

Each state recolours the disc and adds a badge (bottom right) whose shape, not only its
colour, tells the state apart. Every icon carries pixmaps rendered at the usual tray
sizes (16 to 64 px, and twice that for high-DPI screens), so nothing is scaled down
blurrily from one big image.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PySide6.QtCore import QByteArray, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QImage, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtSvg import QSvgRenderer

ICON = Path(__file__).resolve().parents[2] / "resources" / "icons" / "arcus.svg"
BRAND = "#2f6fde"
SIZES = (16, 20, 22, 24, 32, 40, 48, 64, 128)

DISC = {  # the disc's colour per state
    "idle": BRAND,
    "ready": BRAND,
    "loading": "#8b95a7",
    "listening": "#16a34a",
    "speaking": "#7c3aed",
    "muted": "#6b7280",
    "error": "#dc2626",
}
BADGE = {"listening": "#16a34a", "speaking": "#7c3aed", "muted": "#dc2626",
         "error": "#dc2626"}


@lru_cache(maxsize=1)
def _svg() -> str:
    return ICON.read_text(encoding="utf-8")


def _disc(svg: str, colour: str) -> QSvgRenderer:
    return QSvgRenderer(QByteArray(svg.replace(BRAND, colour).encode()))


def render(state: str, size: int, fraction: float | None = None) -> QImage:
    """One icon image, `size` pixels square, transparent around the disc."""
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    p = QPainter(image)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    _disc(_svg(), DISC.get(state, BRAND)).render(p, QRectF(0, 0, size, size))
    if state == "loading":
        _progress(p, size, fraction or 0.0)
    elif state in BADGE:
        _badge(p, size, state)
    p.end()
    return image


def _progress(p: QPainter, size: int, fraction: float) -> None:
    """An arc along the rim, clockwise from 12 o'clock, as far as the load has come."""
    width = max(2.0, size * 0.14)
    inset = width / 2
    rect = QRectF(inset, inset, size - width, size - width)
    p.setPen(QPen(QColor(255, 255, 255, 150), width))
    p.drawEllipse(rect)
    if fraction > 0:
        pen = QPen(QColor(BRAND), width)
        pen.setCapStyle(Qt.PenCapStyle.FlatCap)
        p.setPen(pen)
        p.drawArc(rect, 90 * 16, -round(360 * 16 * min(fraction, 1.0)))


def _badge(p: QPainter, size: int, state: str) -> None:
    d = max(9.0, size * 0.52)
    ring = max(1.0, round(d * 0.12))
    rect = QRectF(size - d + ring, size - d + ring, d, d)  # the gap may leave the image
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor("black"))
    p.setCompositionMode(QPainter.CompositionMode.CompositionMode_Clear)
    p.drawEllipse(rect)  # a transparent gap between disc and badge, on any panel colour
    p.setCompositionMode(QPainter.CompositionMode.CompositionMode_SourceOver)
    inner = rect.adjusted(ring, ring, -ring, -ring)
    p.setBrush(QColor(BADGE[state]))
    p.drawEllipse(inner)
    c = inner.center()
    r = inner.width() / 2
    white = QColor("white")
    if state == "listening":  # a dot: the microphone is open
        p.setBrush(white)
        p.drawEllipse(c, r * 0.42, r * 0.42)
    elif state == "speaking":  # three bars, like a level meter
        p.setBrush(white)
        bar = r * 0.32
        for i, h in enumerate((0.7, 1.2, 0.7)):
            x = c.x() + (i - 1) * bar * 1.55 - bar / 2
            p.drawRect(QRectF(x, c.y() - r * h / 2, bar, r * h))
    elif state == "muted":  # a slash
        pen = QPen(white, max(1.5, r * 0.36))
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        p.setPen(pen)
        k = r * 0.5
        p.drawLine(QPointF(c.x() - k, c.y() + k), QPointF(c.x() + k, c.y() - k))
    elif state == "error":  # an exclamation mark
        p.setBrush(white)
        w = max(1.5, r * 0.34)
        path = QPainterPath()
        path.addRoundedRect(QRectF(c.x() - w / 2, c.y() - r * 0.62, w, r * 0.78), w / 3, w / 3)
        p.drawPath(path)
        p.drawEllipse(QPointF(c.x(), c.y() + r * 0.45), w * 0.55, w * 0.55)


@lru_cache(maxsize=64)
def _icon(state: str, step: int | None) -> QIcon:
    icon = QIcon()
    fraction = None if step is None else step / 20
    for size in SIZES:
        icon.addPixmap(QPixmap.fromImage(render(state, size, fraction)))
    return icon


def state_icon(state: str, fraction: float | None = None) -> QIcon:
    """The tray icon for a state (controller.STATES); `fraction` of loading done."""
    step = None if state != "loading" else round(max(0.0, min(fraction or 0.0, 1.0)) * 20)
    return _icon(state, step)
