"""Two lanes of live voice level, the user's above the assistant's, scrolling right to
left over the last few seconds.

Levels arrive once per 80 ms frame, in bursts, and may be dropped; they go into a ring
of history and nothing is painted per level. A timer (60 Hz while levels keep coming,
stopped when they stop or the widget is hidden) repaints, and each paint moves a
playhead that runs on the wall clock and is steered gently towards the newest frame, so
the history scrolls smoothly instead of jumping a frame at a time."""

from __future__ import annotations

import math
from collections import deque

from PySide6.QtCore import QElapsedTimer, QPointF, QRectF, QSize, Qt, QTimer
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from .colors import accent, tint
from .turns import ASSISTANT, SPEAKER_NAMES, USER

FRAME_S = 0.08
WINDOW_S = 4.0  # seconds of history across the widget
FPS = 60
LAG_S = 0.16  # the playhead trails the newest frame by this much, so bursts look smooth
SNAP_S = 0.6  # further off than this, the playhead jumps instead of catching up
IDLE_S = 1.0  # with no new level for this long, the timer stops
FLOOR_DB = -54.0  # RMS at or under this draws nothing; 0 dBFS fills the lane
LABEL_PAD = 6  # pixels around a lane's label
MUTED = " (muted)"


def level_height(rms: float) -> float:
    """An RMS level (full scale 1.0) as the fraction of its lane to fill."""
    if rms <= 0:
        return 0.0
    db = 20 * math.log10(rms)
    return min(1.0, max(0.0, (db - FLOOR_DB) / -FLOOR_DB))


class Waveform(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("waveform")
        self.setAccessibleName("Voice levels")
        self.setAccessibleDescription("Your voice above, Arcus's below, over the last "
                                      f"{WINDOW_S:.0f} seconds")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setMinimumHeight(48)
        self.muted = False
        size = int(WINDOW_S / FRAME_S) + 8
        self._levels: deque[tuple[float, float]] = deque(maxlen=size)
        self._frames = 0  # frames pushed since clear()
        self._playhead = 0.0  # seconds of the newest frame shown at the right edge
        self._clock = QElapsedTimer()
        self._last_paint_ms = 0
        self._last_push_ms = 0
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(1000 // FPS)
        self._timer.timeout.connect(self._tick)
        self._clock.start()

    def sizeHint(self) -> QSize:
        return QSize(360, 96)

    def minimumSizeHint(self) -> QSize:
        return QSize(120, 48)

    # --- data ------------------------------------------------------------------------

    def push(self, user: float, assistant: float) -> None:
        """One frame's RMS levels; cheap, paints nothing."""
        self._levels.append((max(0.0, user), max(0.0, assistant)))
        self._frames += 1
        self._last_push_ms = self._clock.elapsed()
        if not self._timer.isActive() and self.isVisible():
            self._last_paint_ms = self._clock.elapsed()
            self._timer.start()

    def clear(self) -> None:
        self._levels.clear()
        self._frames, self._playhead = 0, 0.0
        self.update()

    def set_muted(self, muted: bool) -> None:
        self.muted = muted
        self.update()

    @property
    def frames(self) -> int:
        return self._frames

    @property
    def animating(self) -> bool:
        return self._timer.isActive()

    # --- time ------------------------------------------------------------------------

    def _tick(self) -> None:
        if self._clock.elapsed() - self._last_push_ms > IDLE_S * 1000 and self._caught_up():
            self._timer.stop()
        self.update()

    def _caught_up(self) -> bool:
        return abs(self._newest() - self._playhead) < FRAME_S / 4

    def _newest(self) -> float:
        return self._frames * FRAME_S

    def _advance(self) -> None:
        """Move the playhead by the wall-clock time since the last paint, steered
        towards LAG_S behind the newest frame."""
        now = self._clock.elapsed()
        dt = max(0.0, (now - self._last_paint_ms) / 1000)
        self._last_paint_ms = now
        newest = self._newest()
        idle = now - self._last_push_ms > IDLE_S * 1000
        target = newest if idle else newest - LAG_S  # drained: show everything
        ahead = self._playhead + dt
        if abs(ahead - target) > SNAP_S:
            self._playhead = target
        else:
            self._playhead = ahead + (target - ahead) * min(1.0, dt * 4)
        self._playhead = min(self._playhead, newest)

    # --- painting --------------------------------------------------------------------

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._levels and self._clock.elapsed() - self._last_push_ms < IDLE_S * 1000:
            self._timer.start()

    def hideEvent(self, event) -> None:
        super().hideEvent(event)
        self._timer.stop()

    def _label_font(self) -> QFont:
        font = QFont(self.font())
        font.setPointSizeF(max(6.0, font.pointSizeF() * 0.85))
        return font

    def _gutter(self) -> float:
        """The labels' column on the left, as wide as the longest label (muted or not),
        so the levels never run under a label and do not shift when it changes."""
        metrics = QFontMetricsF(self._label_font())
        longest = max(metrics.horizontalAdvance(text) for text in
                      (SPEAKER_NAMES[USER] + MUTED, SPEAKER_NAMES[ASSISTANT]))
        return min(self.width() / 3, longest + 2 * LABEL_PAD)

    def paintEvent(self, event) -> None:
        self._advance()
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        rect = QRectF(self.rect())
        painter.fillRect(rect, palette.color(QPalette.ColorRole.Base))
        lane_h = rect.height() / 2
        gutter = self._gutter()
        for lane, speaker in enumerate((USER, ASSISTANT)):
            area = QRectF(rect.left(), rect.top() + lane * lane_h, rect.width(), lane_h)
            self._paint_label(painter, area.adjusted(0, 0, gutter - area.width(), 0), speaker,
                              palette)
            self._paint_lane(painter, area.adjusted(gutter, 0, 0, 0), lane, speaker, palette)
        painter.setPen(QPen(palette.color(QPalette.ColorRole.Mid), 0))  # cosmetic hairline
        painter.drawLine(QPointF(rect.left(), rect.top() + lane_h),
                         QPointF(rect.right(), rect.top() + lane_h))
        painter.end()

    def _paint_lane(self, painter: QPainter, area: QRectF, lane: int, speaker: str,
                    palette: QPalette) -> None:
        color = accent(palette, speaker)
        mid = area.center().y()
        half = area.height() / 2 - 3
        painter.save()
        painter.setClipRect(area)  # a level's edge stays out of the labels' column
        points = self._points(area, lane)
        if points:
            top = QPainterPath(QPointF(points[0][0], mid))
            for x, h in points:
                top.lineTo(x, mid - h * half)
            for x, h in reversed(points):
                top.lineTo(x, mid + h * half)
            top.closeSubpath()
            fill = QColor(color)
            fill.setAlphaF(0.85)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(fill)
            painter.drawPath(top)
        painter.restore()
        baseline = tint(palette, speaker, 0.5)
        painter.setPen(QPen(baseline, 1.0))
        painter.drawLine(QPointF(area.left(), mid), QPointF(area.right(), mid))

    def _paint_label(self, painter: QPainter, area: QRectF, speaker: str,
                     palette: QPalette) -> None:
        label = SPEAKER_NAMES[speaker] + (MUTED if speaker == USER and self.muted else "")
        painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
        painter.setFont(self._label_font())
        painter.drawText(area.adjusted(LABEL_PAD, 2, 0, -2),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, label)

    def _points(self, area: QRectF, lane: int) -> list[tuple[float, float]]:
        """(x, height fraction) for each frame in view, oldest first; frame i (counting
        from the first) is centred on its time, and time runs right to left."""
        if not self._levels:
            return []
        per_s = area.width() / WINDOW_S
        first = self._frames - len(self._levels)  # index of the oldest frame kept
        points = []
        for k, frame in enumerate(self._levels):
            t = (first + k + 0.5) * FRAME_S
            x = area.right() - (self._playhead - t) * per_s
            if x < area.left() - per_s * FRAME_S or x > area.right() + per_s * FRAME_S:
                continue
            points.append((x, level_height(frame[lane])))
        return points
