"""The tray and the app's state machine, driven by a scripted engine that emits what
EngineSupervisor emits (offscreen Qt; the real tray under X11 is in test_tray_x11.py)."""

import os
import tempfile
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QSystemTrayIcon

from arcus_desktop.bridge.controller import QUIET_FRAMES, AppController
from arcus_desktop.ui.tray import Tray
from arcus_desktop.ui.tray_icons import SIZES, render, state_icon

from .scripted_engine import ScriptedEngine

TRIGGER = QSystemTrayIcon.ActivationReason.Trigger
# A hint as an engine of an earlier version sent it: its traceback must never be shown.
TRACEBACK_HINT = ('It is restarting; details: Traceback (most recent call last):\n'
                  '  File "/opt/arcus/engine/host.py", line 59, in run_process\n'
                  '    serve(config, commands, events)\n'
                  'OSError: [Errno 5] Input/output error')


class Rig:
    """A controller and its tray; every engine the controller starts is kept."""

    def __init__(self, qtbot):
        self.engines: list[ScriptedEngine] = []
        self.controller = AppController(self._engine, persona=lambda: {"persona": {"voice": "NATF2"}})
        self.tray = Tray(self.controller)
        self.messages: list[tuple] = []
        self.tray.icon.showMessage = lambda *args: self.messages.append(args)
        self.started = []
        self.ended = []
        self.controller.conversation_started.connect(self.started.append)
        self.controller.conversation_ended.connect(lambda: self.ended.append(True))

    def _engine(self):
        self.engines.append(ScriptedEngine())
        return self.engines[-1]

    @property
    def engine(self) -> ScriptedEngine:
        return self.engines[-1]

    def click(self):
        self.tray.icon.activated.emit(TRIGGER)

    def looks(self, state: str, fraction=None) -> bool:
        return self.tray.current_icon().cacheKey() == state_icon(state, fraction).cacheKey()


@pytest.fixture
def rig(qtbot):
    r = Rig(qtbot)
    yield r
    r.tray.hide()


def test_a_click_loads_the_engine_then_talks_and_the_tray_follows(rig):
    c, tray = rig.controller, rig.tray
    assert c.state == "idle" and rig.looks("idle")
    assert tray.tooltip() == "Arcus Desktop: Click to talk"
    assert tray.talk_action.text() == "Talk"

    rig.click()  # push to open: the engine starts, the talk waits for it
    assert len(rig.engines) == 1 and c.state == "loading" and rig.looks("loading", 0.0)
    assert tray.talk_action.text() == "End conversation"
    assert rig.engine.calls == []

    rig.engine.state_changed.emit("loading", "")
    rig.engine.loading.emit(0.42, "Language model")
    assert "Loading: 42% (Language model)" in tray.tooltip()
    assert "the conversation starts when it is ready" in tray.tooltip()
    assert rig.looks("loading", 0.42)

    rig.engine.state_changed.emit("ready", "")
    assert rig.engine.calls == [("talk", {"voice": "NATF2"})]
    assert c.state == "loading" and "Starting the conversation" in tray.tooltip()
    rig.engine.state_changed.emit("talking", c.conversation)
    assert c.state == "listening" and rig.looks("listening")
    assert "Listening" in tray.tooltip() and rig.started == [c.conversation]

    rig.engine.levels.emit(0.01, 0.3)  # the assistant speaks
    assert c.state == "speaking" and rig.looks("speaking") and "Speaking" in tray.tooltip()
    for _ in range(QUIET_FRAMES - 1):
        rig.engine.levels.emit(0.2, 0.0)
    assert c.state == "speaking"  # a pause between words is still speech
    rig.engine.levels.emit(0.2, 0.0)
    assert c.state == "listening"

    tray.mute_action.trigger()
    assert ("mute", True) in rig.engine.calls and c.state == "muted" and rig.looks("muted")
    assert tray.mute_action.isChecked() and "Muted" in tray.tooltip()
    tray.mute_action.trigger()
    assert ("mute", False) in rig.engine.calls and c.state == "listening"

    rig.click()  # clicking again ends it
    assert rig.engine.calls[-1] == ("stop",) and rig.ended == [True]
    assert tray.talk_action.text() == "Talk"
    rig.engine.state_changed.emit("ready", "")
    assert c.state == "ready" and rig.looks("idle")
    assert tray.tooltip() == "Arcus Desktop: Ready — click to talk"

    tray.talk_action.trigger()  # the engine stays loaded: the next talk starts at once
    assert len(rig.engines) == 1 and rig.engine.calls[-1][0] == "talk"


def test_an_error_is_notified_with_its_way_forward_and_talk_retries(rig):
    c, tray = rig.controller, rig.tray
    rig.click()
    rig.engine.failed.emit("PersonaPlex is not installed.", "Run `arcus-desktop download`.")
    rig.engine.state_changed.emit("failed", "")
    assert c.state == "error" and rig.looks("error")
    assert rig.messages == [("Arcus Desktop",
                             "PersonaPlex is not installed.\nRun `arcus-desktop download`.",
                             QSystemTrayIcon.MessageIcon.Critical, 10_000)]
    assert "not installed" in tray.tooltip() and "arcus-desktop download" in tray.tooltip()
    assert tray.talk_action.text() == "Talk"

    rig.click()  # after fixing it, a click tries again with a fresh engine process
    assert len(rig.engines) == 2 and c.state == "loading" and c.error is None


def test_a_traceback_in_a_hint_reaches_neither_the_notification_nor_the_tooltip(rig):
    rig.click()
    rig.engine.failed.emit("The engine stopped: OSError: I/O error", TRACEBACK_HINT)
    rig.engine.state_changed.emit("failed", "")
    assert rig.messages[-1][1] == "The engine stopped: OSError: I/O error\nIt is restarting."
    assert rig.tray.tooltip() == ("Arcus Desktop: The engine stopped: OSError: I/O error "
                                  "It is restarting.")


def test_notices_are_told_without_changing_the_state(rig):
    rig.click()
    rig.engine.state_changed.emit("ready", "")
    rig.engine.state_changed.emit("talking", rig.controller.conversation)
    rig.engine.notice.emit("The speaker fell behind.", "Close other programs.")
    assert rig.controller.state == "listening"
    assert rig.messages[-1][1:3] == ("The speaker fell behind.\nClose other programs.",
                                     QSystemTrayIcon.MessageIcon.Information)


def test_a_crash_restarts_and_the_conversation_goes_on(rig):
    c = rig.controller
    rig.click()
    rig.engine.state_changed.emit("ready", "")
    conversation = c.conversation
    rig.engine.state_changed.emit("talking", conversation)
    rig.engine.failed.emit("The engine stopped: RuntimeError: boom", "It is restarting")
    assert c.state == "error"
    rig.engine.restarted.emit("The engine stopped unexpectedly (exit code 1).")
    assert c.state == "loading" and "Restarting" in rig.messages[-1][1]
    rig.engine.state_changed.emit("loading", "")
    rig.engine.state_changed.emit("ready", "")  # the supervisor resumes by itself
    rig.engine.state_changed.emit("talking", conversation)
    assert [call[0] for call in rig.engine.calls] == ["talk"]  # no second start from us
    assert c.state == "listening" and rig.started == [conversation] and not rig.ended


def test_ending_while_loading_cancels_the_pending_talk(rig):
    rig.click()
    rig.click()
    rig.engine.state_changed.emit("ready", "")
    assert rig.engine.calls == [] and rig.controller.state == "ready"


def test_hold_to_talk_opens_the_microphone_while_the_key_is_down(rig):
    c = rig.controller
    c.hold_to_talk = True
    c.hotkey_pressed()
    rig.engine.state_changed.emit("ready", "")
    rig.engine.state_changed.emit("talking", c.conversation)
    assert c.state == "listening"
    c.hotkey_released()  # the assistant can still answer; the microphone is off
    assert c.state == "muted" and rig.engine.calls[-1] == ("mute", True)
    c.hotkey_pressed()
    assert c.state == "listening" and rig.engine.calls[-1] == ("mute", False)
    assert [call[0] for call in rig.engine.calls].count("talk") == 1


def test_a_new_conversation_starts_unmuted(rig):
    rig.controller.set_muted(True)  # muted from the menu with no conversation going on
    rig.click()
    assert rig.engine.calls == [] and not rig.controller.muted
    assert not rig.tray.mute_action.isChecked()


def test_icons_are_crisp_at_tray_sizes(qapp):
    for state in ("idle", "loading", "listening", "speaking", "muted", "error"):
        icon = state_icon(state, 0.5)
        assert sorted({s.width() for s in icon.availableSizes()}) == sorted(SIZES)
        for size in (16, 22, 32):  # rendered at that size, not scaled from a big one
            assert icon.pixmap(size, size).toImage() == render(state, size, 0.5).convertToFormat(
                icon.pixmap(size, size).toImage().format())
    # Each state differs from the others even at 16 px.
    images = {s: render(s, 16, 0.5) for s in ("idle", "loading", "listening", "speaking",
                                              "muted", "error")}
    assert len({bytes(img.constBits()) for img in images.values()}) == len(images)


def test_screenshot_of_the_tray_icon_per_state(rig):
    """One picture with the icon in every state at 16, 22, 32 and 64 px, on a light and a
    dark panel, with the tooltip each state shows."""
    c, e = rig.controller, None
    shots = []

    def shoot(label):
        shots.append((label, c.state, c.load_fraction, rig.tray.tooltip()))

    shoot("idle")
    rig.click()
    e = rig.engine
    e.loading.emit(0.6, "Language model")
    shoot("loading 60%")
    e.state_changed.emit("ready", "")
    e.state_changed.emit("talking", c.conversation)
    shoot("listening")
    e.levels.emit(0.0, 0.4)
    shoot("speaking")
    c.set_muted(True)
    shoot("muted")
    e.failed.emit("The microphone stopped delivering audio.", "Check that it is plugged in.")
    shoot("error")
    assert [s[1] for s in shots] == ["idle", "loading", "listening", "speaking", "muted",
                                     "error"]

    sizes, row_h, label_w, text_w = (16, 22, 32, 64), 76, 110, 560
    panel_w = sum(sizes) + 12 * len(sizes) + 12
    image = QImage(label_w + 2 * panel_w + text_w, row_h * len(shots),
                   QImage.Format.Format_ARGB32)
    image.fill(QColor("#f3f4f6"))
    p = QPainter(image)
    p.fillRect(label_w + panel_w, 0, panel_w, image.height(), QColor("#1f2937"))
    for i, (label, state, fraction, tooltip) in enumerate(shots):
        y = i * row_h
        p.setPen(QColor("#111827"))
        p.drawText(8, y + row_h // 2, label)
        for panel in range(2):
            x = label_w + panel * panel_w + 12
            for size in sizes:
                p.drawImage(x, y + (row_h - size) // 2, render(state, size, fraction))
                x += size + 12
        p.setPen(QColor("#111827"))
        p.drawText(label_w + 2 * panel_w + 8, y + 8, text_w - 16, row_h - 16,
                   int(Qt.TextFlag.TextWordWrap), tooltip)
    p.end()
    out = Path(os.environ.get("ARCUS_SCREENSHOTS") or tempfile.gettempdir())
    out.mkdir(parents=True, exist_ok=True)
    path = out / "tray_icons.png"
    assert image.save(str(path))
    # Not blank: the icons' own colours are there.
    colours = {image.pixel(x, y) for x in range(label_w, label_w + 2 * panel_w, 3)
               for y in range(0, image.height(), 3)}
    assert len(colours) > 50
    assert QColor(image.pixel(label_w + 12 + 8, row_h // 2)).name() != "#f3f4f6"
