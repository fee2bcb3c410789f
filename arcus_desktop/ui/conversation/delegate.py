"""How a turn looks in the transcript: a coloured bar and the speaker's name and time,
then the words, wrapped; a cut-off turn ends with "—"; the other side's backchannels sit
inline, as small tinted markers, where they were said."""

from __future__ import annotations

import html
from collections import OrderedDict

from PySide6.QtCore import QModelIndex, QRectF, QSize, Qt
from PySide6.QtGui import (QAbstractTextDocumentLayout, QPainter, QPalette, QPen,
                           QTextDocument)
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from .colors import accent, tint
from .model import TURN_ROLE
from .turns import CUT, OTHER, SPEAKER_NAMES, Turn, clock

PAD_X, PAD_Y, BAR, GAP = 8, 6, 3, 8  # logical pixels
CACHE = 400  # laid-out rows kept


class TurnDelegate(QStyledItemDelegate):
    def __init__(self, view: QWidget) -> None:
        super().__init__(view)
        self.view = view
        self._docs: OrderedDict[tuple, QTextDocument] = OrderedDict()
        self._sizes: dict[int, tuple[Turn, tuple, QSize]] = {}  # id(turn) -> turn, key, size

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        turn: Turn | None = index.data(TURN_ROLE)
        if turn is None:
            return
        palette = option.palette
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        painter.save()
        rect = option.rect
        if selected:
            painter.fillRect(rect, palette.color(QPalette.ColorRole.Highlight))
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        bar = QRectF(rect.left() + PAD_X, rect.top() + PAD_Y, BAR, rect.height() - 2 * PAD_Y)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(accent(palette, turn.speaker))
        painter.drawRoundedRect(bar, BAR / 2, BAR / 2)
        doc = self._document(turn, palette, selected, self._text_width(rect.width()), option)
        painter.translate(rect.left() + PAD_X + BAR + GAP, rect.top() + PAD_Y)
        context = QAbstractTextDocumentLayout.PaintContext()
        role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        context.palette.setColor(QPalette.ColorRole.Text, palette.color(role))
        doc.documentLayout().draw(painter, context)
        painter.restore()
        if option.state & QStyle.StateFlag.State_HasFocus:
            self._focus_frame(painter, option)

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        turn: Turn | None = index.data(TURN_ROLE)
        if turn is None:
            return QSize(0, 0)
        width = self.view.viewport().width() if self.view is not None else option.rect.width()
        # Every row is asked on every layout: answer from the cache unless it changed.
        key = (turn.revision, width, option.font.key())
        cached = self._sizes.get(id(turn))
        if cached is not None and cached[0] is turn and cached[1] == key:
            return cached[2]
        doc = self._document(turn, option.palette, False, self._text_width(width), option)
        size = QSize(width, int(doc.size().height() + 0.999) + 2 * PAD_Y)
        if len(self._sizes) > 20 * CACHE:
            self._sizes.clear()
        self._sizes[id(turn)] = (turn, key, size)
        return size

    def _text_width(self, width: int) -> int:
        return max(40, width - 2 * PAD_X - BAR - GAP)

    def _document(self, turn: Turn, palette: QPalette, selected: bool, width: int,
                  option: QStyleOptionViewItem) -> QTextDocument:
        markup = turn_html(turn, palette, selected)
        key = (markup, width, option.font.key())
        doc = self._docs.get(key)
        if doc is not None:
            self._docs.move_to_end(key)
            return doc
        doc = QTextDocument()
        doc.setDocumentMargin(0)
        doc.setDefaultFont(option.font)
        doc.setHtml(markup)
        doc.setTextWidth(width)
        self._docs[key] = doc
        while len(self._docs) > CACHE:
            self._docs.popitem(last=False)
        return doc

    def _focus_frame(self, painter: QPainter, option: QStyleOptionViewItem) -> None:
        painter.save()
        pen = QPen(option.palette.color(QPalette.ColorRole.Highlight), 1, Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(QRectF(option.rect).adjusted(0.5, 0.5, -0.5, -0.5))
        painter.restore()


def turn_html(turn: Turn, palette: QPalette, selected: bool = False) -> str:
    """A turn as the rich text the delegate lays out (colours from the palette)."""
    text_role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
    muted_role = (QPalette.ColorRole.HighlightedText if selected
                  else QPalette.ColorRole.PlaceholderText)
    name_color = palette.color(text_role) if selected else accent(palette, turn.speaker)
    muted = palette.color(muted_role).name()
    header = (f'<span style="color:{name_color.name()}; font-weight:600">'
              f'{SPEAKER_NAMES[turn.speaker]}</span>'
              f'<span style="color:{muted}">&nbsp;&nbsp;{clock(turn.start)}')
    if turn.final and turn.duration >= 0.1:
        header += f" · {turn.duration:.1f} s"
    header += "</span>"

    other = OTHER[turn.speaker]
    mark_style = (f"background-color:{tint(palette, other, 0.28).name()}; "
                  f"color:{accent(palette, other).name()}; font-size:small")
    marks = [(b.time, f'<span style="{mark_style}">&nbsp;{html.escape(b.label)}&nbsp;</span>')
             for b in turn.backchannels]
    parts: list[str] = []
    words = turn.words()
    if not words:
        parts.append(f'<i style="color:{muted}">{turn.placeholder}</i>')
    for word, start in words:  # a marker goes after the last word begun before it
        while marks and marks[0][0] < start:
            parts.append(marks.pop(0)[1])
        parts.append(html.escape(word))
    parts.extend(m for _, m in marks)
    body = " ".join(p for p in parts if p)
    if turn.interrupted:
        body += f'<span style="color:{muted}">{CUT}</span>'
    return f'<div>{header}</div><div style="margin-top:2px">{body}</div>'
