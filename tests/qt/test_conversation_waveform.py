"""The waveform paints both lanes from level data on a timer, and only then."""

from __future__ import annotations

import numpy as np

from PySide6.QtCore import QPoint, QSize
from PySide6.QtGui import QColor, QImage, QPainter, QPalette

from arcus_desktop.ui.conversation import USER, Waveform
from arcus_desktop.ui.conversation.colors import accent
from arcus_desktop.ui.conversation.waveform import FPS, level_height

from .conversation_helpers import LIGHT, differs_from, palette, pixels
from .scripted_conversation import speech


def lane_ink(image: QImage, widget: Waveform, lane: int) -> float:
    """Share of a lane's pixels drawn on (its label and middle line aside)."""
    height = image.height() // 2  # the band between a quarter and the middle of the lane,
    part = image.copy(60, lane * height + height // 4, image.width() - 60, height // 4 - 3)
    base = widget.palette().color(QPalette.ColorRole.Base)
    return float(differs_from(part, base, 60).mean())


def make(qtbot) -> Waveform:
    widget = Waveform()
    widget.setPalette(palette(LIGHT))
    widget.resize(400, 100)
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def test_levels_paint_both_lanes(qtbot):
    widget = make(qtbot)
    empty = widget.grab().toImage()
    assert lane_ink(empty, widget, 0) == 0 and lane_ink(empty, widget, 1) == 0
    for frame in range(60):  # 4.8 s: the user, then both
        widget.push(speech(frame), speech(frame, 0.15) if frame >= 30 else 0.0)
    assert widget.animating  # painting is the timer's job, not push's
    qtbot.waitUntil(lambda: lane_ink(widget.grab().toImage(), widget, 1) > 0.1, timeout=2000)
    image = widget.grab().toImage()
    assert lane_ink(image, widget, 0) > 0.1
    # Each lane in its speaker's colour, and time runs right to left: Arcus's lane is
    # drawn only in its newer (right) part.
    user_color = accent(widget.palette(), USER)
    upper = image.copy(0, 10, image.width(), 30)
    assert (~differs_from(upper, user_color, 90)).mean() > 0.05
    lower = image.copy(0, 64, image.width(), 9)  # under its label, over its middle line
    base = widget.palette().color(QPalette.ColorRole.Base)
    ink = differs_from(lower, base, 60)
    assert ink[:, 40:120].mean() < 0.05 < ink[:, 250:].mean()


def test_it_paints_sharp_at_twice_the_pixel_density(qtbot):
    widget = make(qtbot)
    for frame in range(40):
        widget.push(speech(frame), speech(frame + 3, 0.15))
    image = QImage(QSize(800, 200), QImage.Format.Format_ARGB32)
    image.setDevicePixelRatio(2.0)
    image.fill(QColor("black"))
    painter = QPainter(image)
    widget.render(painter, QPoint())
    painter.end()
    base = widget.palette().color(QPalette.ColorRole.Base)
    assert differs_from(image, QColor("black")).mean() > 0.9  # it filled all of it
    assert differs_from(image, base, 60).mean() > 0.1


def test_the_timer_runs_only_while_levels_come_and_the_widget_shows(qtbot):
    widget = make(qtbot)
    assert not widget.animating
    assert 30 <= FPS <= 60
    widget.push(0.1, 0.0)
    assert widget.animating
    widget.hide()
    assert not widget.animating
    widget.push(0.1, 0.0)
    assert not widget.animating and widget.frames == 2
    widget.show()
    assert widget.animating
    qtbot.waitUntil(lambda: not widget.animating, timeout=3000)  # idle: it stops itself


def test_level_scale():
    assert level_height(0.0) == 0.0
    assert level_height(1e-4) == 0.0  # -80 dB: silence
    assert 0.5 < level_height(0.1) < 0.7  # -20 dB: speech
    assert level_height(1.0) == 1.0



def test_the_speaker_labels_stay_clear_of_the_levels(qtbot):
    """Loud levels over the whole window never paint over "You (muted)" or "Arcus"."""
    widget = make(qtbot)
    widget.set_muted(True)  # the longer label
    quiet = widget.grab().toImage()
    for _frame in range(80):  # more than the window's 4 s, at full scale in both lanes
        widget.push(1.0, 1.0)
    loud = widget.grab().toImage()
    ink = differs_from(quiet, widget.palette().color(QPalette.ColorRole.Base), 60)
    ink[ink.mean(axis=1) >= 0.5] = False  # the labels alone, without the full-width lines
    changed = (pixels(quiet).astype(int) != pixels(loud).astype(int)).any(axis=2)
    assert changed.mean() > 0.2  # the levels were painted
    half = quiet.height() // 2
    for lane in (0, 1):  # each label's box, with a pixel of margin
        ys, xs = np.nonzero(ink[lane * half:(lane + 1) * half])
        assert ys.size, f"no label in lane {lane}"
        box = changed[lane * half + ys.min() - 1: lane * half + ys.max() + 2,
                      max(0, xs.min() - 1): xs.max() + 2]
        assert not box.any(), f"the levels paint over lane {lane}'s label"
