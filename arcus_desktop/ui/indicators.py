"""Radio buttons and check boxes that show in a dark theme. Fusion draws their frames a
shade darker than the window and fills them with the base colour: on a dark palette
both are near the window's own colour, so an unchecked radio or check box all but
vanishes. Under a dark palette this style draws the frame in the text colour and the
checked mark in the highlight colour; under a light one it leaves the drawing to the
application's style. It reads the palette at each paint, so a theme switched while a
window is open is followed."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QPainter, QPainterPath, QPalette, QPen
from PySide6.QtWidgets import QAbstractButton, QApplication, QProxyStyle, QStyle

_style: QProxyStyle | None = None
PE = QStyle.PrimitiveElement
_OURS = (PE.PE_IndicatorRadioButton, PE.PE_IndicatorCheckBox)


def is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


class _VisibleIndicators(QProxyStyle):
    def drawPrimitive(self, element, option, painter, widget=None) -> None:  # noqa: N802
        if element not in _OURS or not is_dark(option.palette):
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
        mark = palette.color(group, QPalette.ColorRole.Highlight) if enabled else ring
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if element == PE.PE_IndicatorRadioButton:
            self._radio(option, painter, palette, group, ring, mark, box, side)
        else:
            self._check_box(option, painter, palette, group, ring, mark, box, side)
        painter.restore()

    @staticmethod
    def _radio(option, painter, palette, group, ring, mark, box, side) -> None:
        painter.setPen(QPen(ring, 1.5))
        painter.setBrush(palette.color(group, QPalette.ColorRole.Base))
        painter.drawEllipse(box.adjusted(0.75, 0.75, -0.75, -0.75))
        if option.state & QStyle.StateFlag.State_On:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(mark)
            inset = side * 0.28
            painter.drawEllipse(box.adjusted(inset, inset, -inset, -inset))

    @staticmethod
    def _check_box(option, painter, palette, group, ring, mark, box, side) -> None:
        on = bool(option.state & QStyle.StateFlag.State_On)
        partly = bool(option.state & QStyle.StateFlag.State_NoChange)
        frame = box.adjusted(0.75, 0.75, -0.75, -0.75)
        painter.setPen(QPen(mark if on or partly else ring, 1.5))
        painter.setBrush(mark if on or partly else palette.color(group, QPalette.ColorRole.Base))
        painter.drawRoundedRect(frame, side * 0.15, side * 0.15)
        tick = palette.color(group, QPalette.ColorRole.HighlightedText)
        pen = QPen(tick, max(1.5, side * 0.14))
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        x, y = box.x(), box.y()
        if on:
            path = QPainterPath(QPointF(x + side * 0.24, y + side * 0.52))
            path.lineTo(QPointF(x + side * 0.42, y + side * 0.70))
            path.lineTo(QPointF(x + side * 0.76, y + side * 0.30))
            painter.drawPath(path)
        elif partly:
            painter.drawLine(QPointF(x + side * 0.26, y + side / 2),
                             QPointF(x + side * 0.74, y + side / 2))


def visible(button: QAbstractButton) -> QAbstractButton:
    """`button` (a radio button or a check box), drawn so that it shows in a dark theme
    too."""
    global _style
    if _style is None:
        _style = _VisibleIndicators()  # on the application's style
        _style.setParent(QApplication.instance())  # lives as long as the application
    button.setStyle(_style)
    return button
