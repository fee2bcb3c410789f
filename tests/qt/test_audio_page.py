"""The Audio page on a real PulseAudio daemon (tests/pulse.py): the server's devices by
their descriptions, followed as they come and go, a live microphone level and a test
sound on the chosen speaker."""

from __future__ import annotations

import subprocess
import threading

import numpy as np
import pytest

from arcus_desktop.audio.chime import NOTES_HZ
from arcus_desktop.audio.duplex import FRAME, RATE, DuplexAudio
from arcus_desktop.ui.settings import SettingsDialog

from ..integration.test_sound_server_devices import Recorder, null_sink, strength
from ..pulse import feed, steady_sink
from .settings_fixtures import ini, service  # noqa: F401 (fixtures)

WAIT_MS = 15_000


@pytest.fixture
def two_sinks(pulse):
    null_sink("desk", "Desk Speakers")
    null_sink("usb", "USB Headset")
    return pulse


@pytest.fixture
def page(qtbot, service, tiny_model, two_sinks):
    """The dialog open on its Audio page, the devices listed and the meter open."""
    dialog = SettingsDialog(service, model_dir=tiny_model)
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.audio.devices_listed, timeout=WAIT_MS):
        dialog.show()
    with qtbot.waitSignal(dialog.audio.meter_opened, timeout=WAIT_MS):
        dialog.sidebar.setCurrentRow(dialog.pages.index(dialog.audio))
    yield dialog.audio
    dialog.close()  # deleted on close: the sound server tells when the meter has closed
    # Closed before the daemon ends: a stream open then would hang PortAudio's restart.
    qtbot.waitUntil(lambda: not recording_streams(), timeout=WAIT_MS)


def recording_streams() -> list[str]:
    return subprocess.run(["pactl", "list", "short", "source-outputs"], check=True,
                          capture_output=True, text=True).stdout.splitlines()


def items(combo) -> list[str]:
    return [combo.itemText(i) for i in range(combo.count())]


def choose(combo, name: str) -> None:
    combo.setCurrentIndex(combo.findData(name))


def test_the_sound_servers_devices_are_listed_by_their_descriptions(page):
    assert items(page.output) == ["System default (Null Output)", "Null Output",
                                  "Desk Speakers", "USB Headset"]
    assert page.input.count() == 2 and page.input.itemText(1).startswith("Unix FIFO source")


def test_the_chosen_speaker_is_where_playback_goes(qtbot, page, service, two_sinks):
    choose(page.output, "USB Headset")
    dialog = page.window()
    assert dialog.apply() and service.settings.audio.output_device == "USB Headset"
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(FRAME) / RATE)).astype(np.float32)
    stop = threading.Event()
    with steady_sink("usb"):
        usb, default = Recorder("usb"), Recorder("spk")
        feed(two_sinks, np.zeros(RATE, np.float32), stop, loop=True)
        try:
            with DuplexAudio(service.settings.audio.input_device or None,
                             service.settings.audio.output_device) as audio:
                for _ in range(30):
                    assert audio.read_frame(timeout=5.0) is not None
                    audio.write_frame(tone)
        finally:
            stop.set()
        on_usb, on_default = usb.stop(), default.stop()
    assert strength(on_usb, 440) > 0.1 and strength(on_default, 440) < 0.001


def test_test_speaker_plays_on_the_chosen_speaker(qtbot, page):
    choose(page.output, "Desk Speakers")
    with steady_sink("desk"):
        desk, usb = Recorder("desk"), Recorder("usb")
        with qtbot.waitSignal(page.speaker_tested, timeout=WAIT_MS) as played:
            page.test_speaker.click()
        on_desk, on_usb = desk.stop(), usb.stop()
    assert played.args == [True] and "“Desk Speakers”" in page.speaker_message.text()
    assert page.test_speaker.isEnabled()
    assert strength(on_desk, NOTES_HZ[0]) > 0.01 and strength(on_usb, NOTES_HZ[0]) < 0.001


def test_test_speaker_on_a_speaker_not_connected_says_so(qtbot, service, tiny_model, two_sinks):
    s = service.settings
    s.audio.output_device = "Old Speakers"
    service.apply(s)
    dialog = SettingsDialog(service, model_dir=tiny_model)
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.audio.devices_listed, timeout=WAIT_MS):
        dialog.show()
    page = dialog.audio
    assert page.output.currentText() == "Old Speakers (not connected)"
    with qtbot.waitSignal(page.speaker_tested, timeout=WAIT_MS) as played:
        page.test_speaker.click()
    assert played.args == [False]
    assert "“Old Speakers” is not connected" in page.speaker_message.text()
    assert "Choose another speaker" in page.speaker_message.text()


def test_the_meter_moves_with_the_microphone(qtbot, page, two_sinks):
    stop = threading.Event()
    tone = (0.5 * np.sin(2 * np.pi * 300 * np.arange(RATE) / RATE)).astype(np.float32)
    feed(two_sinks, tone, stop, loop=True)
    try:
        qtbot.waitUntil(lambda: page.level.value() > 80, timeout=WAIT_MS)
    finally:
        stop.set()
    qtbot.waitUntil(lambda: page.level.value() == 0, timeout=WAIT_MS)  # quiet: nothing shown


def test_the_meter_stops_when_the_page_is_left(qtbot, page):
    assert page.meter is not None
    dialog = page.window()
    dialog.sidebar.setCurrentRow(0)
    assert page.meter is None and page.watch is None


def test_a_device_plugged_in_appears(qtbot, page):
    qtbot.waitUntil(lambda: page.watch.following_server, timeout=WAIT_MS)  # pactl subscribe
    null_sink("hdmi", "HDMI Output")
    qtbot.waitUntil(lambda: "HDMI Output" in items(page.output), timeout=WAIT_MS)


def test_a_chosen_device_that_goes_away_falls_back_to_the_default(qtbot, page):
    module = null_sink("dock", "Dock Speakers")
    qtbot.waitUntil(lambda: "Dock Speakers" in items(page.output), timeout=WAIT_MS)
    choose(page.output, "Dock Speakers")
    subprocess.run(["pactl", "unload-module", module], check=True, capture_output=True)
    qtbot.waitUntil(lambda: page.output.currentIndex() == 0, timeout=WAIT_MS)
    assert "“Dock Speakers” was disconnected" in page.devices_message.text()
    assert "Dock Speakers (not connected)" in items(page.output)  # to choose again
    null_sink("hdmi", "HDMI Output")  # the note stays through later changes
    qtbot.waitUntil(lambda: "HDMI Output" in items(page.output), timeout=WAIT_MS)
    assert "“Dock Speakers” was disconnected" in page.devices_message.text()
    dialog = page.window()
    assert dialog.apply() and dialog.service.settings.audio.output_device == ""
