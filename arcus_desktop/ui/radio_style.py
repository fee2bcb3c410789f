"""Radio buttons that show in a dark theme. Fusion draws a radio's ring a shade darker
than the window and fills it with the base colour: on a dark palette both are near the
window's own colour, so an unchecked radio all but vanishes. Under a dark palette this
style draws the ring in the text colour and the checked dot in the highlight colour;
under a light one it leaves the drawing to the application's style. It reads the
palette at each paint, so a theme switched while a window is open is followed."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QPainter, QPalette, QPen
from PySide6.QtWidgets import QApplication, QProxyStyle, QRadioButton, QStyle

_style: QProxyStyle | None = None


def is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


class _VisibleRadios(QProxyStyle):
    def drawPrimitive(self, element, option, painter, widget=None) -> None:  # noqa: N802
        if element != QStyle.PrimitiveElement.PE_IndicatorRadioButton or \
                not is_dark(option.palette):
            super().drawPrimitive(element, option, painter, widget)
            return
        palette = option.palette
        enabled = bool(option.state & QStyle.StateFlag.State_Enabled)
        group = QPalette.ColorGroup.Normal if enabled else QPalette.ColorGroup.Disabled
        ring = palette.color(group, QPalette.ColorRole.WindowText)
        if not enabled:
            ring.setAlpha(140)
        side = min(option.rect.width(), option.rect.height()) - 2
        box = QRectF(option.rect.x() + (option.rect.width() - side) / 2,
                     option.rect.y() + (option.rect.height() - side) / 2, side, side)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(ring, 1.5))
        painter.setBrush(palette.color(group, QPalette.ColorRole.Base))
        painter.drawEllipse(box.adjusted(0.75, 0.75, -0.75, -0.75))
        if option.state & QStyle.StateFlag.State_On:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(palette.color(group, QPalette.ColorRole.Highlight) if enabled
                             else ring)
            inset = side * 0.28
            painter.drawEllipse(box.adjusted(inset, inset, -inset, -inset))
        painter.restore()


def visible(radio: QRadioButton) -> QRadioButton:
    """`radio`, drawn so that it shows in a dark theme too."""
    global _style
    if _style is None:
        _style = _VisibleRadios()  # on the application's style
        _style.setParent(QApplication.instance())  # lives as long as the application
    radio.setStyle(_style)
    return radio
