"""Recordings played for the windows (bridge/player.py over audio/player.py), on a real
PulseAudio daemon (tests/pulse.py): on the speaker chosen on the Audio page, with state,
position and end as signals on the GUI thread, and failures as messages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from arcus_desktop.bridge.player import Player

from ..integration.test_file_player import recording, streams_on, tone, wav
from ..integration.test_sound_server_devices import Recorder, null_sink, strength
from ..pulse import steady_sink
from .settings_fixtures import ini, service  # noqa: F401 (fixtures)
from .test_settings_dialog import open_dialog, tiny_info  # noqa: F401 (fixture)

WAIT_MS = 30_000
PACKAGE = Path(__file__).resolve().parents[2] / "arcus_desktop"


@pytest.fixture
def two_sinks(pulse):
    """Besides the default speaker ("spk"): "Desk Speakers" and "USB Headset"."""
    null_sink("desk", "Desk Speakers")
    null_sink("usb", "USB Headset")
    return pulse


@pytest.fixture
def player(qtbot):
    made = []

    def make(device=None, **kwargs) -> Player:
        made.append(Player(lambda: device, **kwargs))
        return made[-1]

    yield make
    for p in made:  # closed before the sound server goes
        p.stop()
        qtbot.waitUntil(p.settled, timeout=WAIT_MS)


class Told:
    """A Player's signals, in order."""

    def __init__(self, p: Player) -> None:
        self.states, self.positions, self.ends, self.failures = [], [], [], []
        p.state_changed.connect(self.states.append)
        p.position_changed.connect(self.positions.append)
        p.finished.connect(lambda: self.ends.append(True))
        p.failed.connect(self.failures.append)


def test_no_module_plays_through_qt_multimedia():
    # Its FFmpeg thread emitted into Python and deadlocked a test run against the GUI
    # thread. Device notices (bridge/device_watch.py) are all that may use it.
    users = sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                   if "QtMultimedia" in p.read_text(encoding="utf-8"))
    assert users == ["bridge/device_watch.py"]


def test_listen_plays_on_the_speaker_chosen_on_the_audio_page(qtbot, service, tiny_info,
                                                             two_sinks, tmp_path):
    path = wav(tmp_path, tone(440, 1.0))
    dialog = open_dialog(qtbot, service, tiny_info)
    dialog.audio._choose(dialog.audio.output, "Desk Speakers")  # chosen, not yet applied
    page = dialog.voice
    page.own_choice.setChecked(True)
    page.path.setText(str(path))
    with steady_sink("desk"):
        desk, default = recording("desk"), Recorder("spk")
        with qtbot.waitSignal(page.listen.finished, timeout=WAIT_MS):
            page.listen.click()
            qtbot.waitUntil(lambda: page.listen.playing, timeout=WAIT_MS)
            assert page.listen.text() == "&Stop"
        assert page.listen.text() == "&Listen"
        qtbot.waitUntil(page.listen.player.settled, timeout=WAIT_MS)
        on_desk, on_default = desk.stop(), default.stop()
    assert strength(on_desk, 440) > 0.1
    assert strength(on_default, 440) < 0.001


def test_state_position_and_end_come_as_signals(qtbot, player, two_sinks, tmp_path):
    p = player("USB Headset")
    told = Told(p)
    p.set_source(str(wav(tmp_path, tone(440, 1.0))))
    with steady_sink("usb"):
        usb = recording("usb")
        with qtbot.waitSignal(p.finished, timeout=WAIT_MS):
            p.play()
            assert p.playing
        qtbot.waitUntil(p.settled, timeout=WAIT_MS)
        heard = usb.stop()
    assert strength(heard, 440) > 0.1
    assert told.states == [True, False] and told.ends == [True] and not told.failures
    assert told.positions == sorted(told.positions) and told.positions[-1] == pytest.approx(1.0)
    assert len(told.positions) > 3  # it moved while playing
    assert p.duration() == pytest.approx(1.0) and p.position() == 0.0  # next time from the start


@pytest.mark.parametrize("name, content, expected", [
    ("gone.wav", None, "gone.wav does not exist"),
    ("damaged.wav", b"RIFF\x10\x00\x00\x00WAVEfmt " + bytes(range(256)) * 8,
     "damaged.wav is not an audio file that can be read"),
])
def test_a_missing_or_damaged_file_is_a_message(qtbot, player, pulse, tmp_path, name, content,
                                                expected):
    p = player()
    told = Told(p)
    if content is not None:
        (tmp_path / name).write_bytes(content)
    p.set_source(str(tmp_path / name))
    with qtbot.waitSignal(p.failed, timeout=WAIT_MS) as failed:
        p.play()
    assert expected in failed.args[0] and "Traceback" not in failed.args[0]
    assert told.states == [True, False] and not p.playing and not told.ends


def test_a_speaker_that_is_not_connected_is_a_message(qtbot, player, pulse, tmp_path):
    p = player("Bluetooth Earbuds")
    p.set_source(str(wav(tmp_path, tone(440, 1.0))))
    with qtbot.waitSignal(p.failed, timeout=WAIT_MS) as failed:
        p.play()
    assert failed.args[0].startswith("The speaker “Bluetooth Earbuds” is not connected.")


def test_stop_while_it_opens_plays_nothing(qtbot, player, two_sinks, tmp_path):
    p = player("USB Headset")
    told = Told(p)
    p.set_source(str(wav(tmp_path, tone(440, 5.0))))
    with steady_sink("usb"):
        before = streams_on("usb")
        usb = recording("usb")
        p.play()
        p.stop()
        qtbot.waitUntil(p.settled, timeout=WAIT_MS)  # the open ended, and was closed
        assert streams_on("usb") == before
        heard = usb.stop()
    assert strength(heard, 440) < 0.001
    assert told.states == [True, False] and not told.ends and not told.failures


def test_seek_moves_the_position_playing_or_not(qtbot, player, two_sinks, tmp_path):
    p = player("Desk Speakers")
    p.set_source(str(wav(tmp_path, tone(440, 10.0))))
    p.seek(6.0)  # not playing: it starts there
    assert p.position() == 6.0
    with steady_sink("desk"):
        p.play()
        qtbot.waitUntil(lambda: p.position() > 6.2, timeout=WAIT_MS)
        p.seek(2.0)  # playing: it goes on from there
        assert p.position() == 2.0
        qtbot.waitUntil(lambda: 2.2 < p.position() < 6.0, timeout=WAIT_MS)
        assert p.playing
        p.stop()
        qtbot.waitUntil(p.settled, timeout=WAIT_MS)


def test_a_long_recording_plays_on_past_its_first_stretch(qtbot, player, two_sinks, tmp_path):
    # Decoded a stretch at a time (here 1 s, as conversations are WINDOW_S at a time).
    p = player("Desk Speakers", max_seconds=1.0)
    told = Told(p)
    p.set_source(str(wav(tmp_path, tone(300, 1.0), tone(900, 1.5))))
    with steady_sink("desk"):
        desk = recording("desk")
        with qtbot.waitSignal(p.finished, timeout=WAIT_MS):
            p.play()
        qtbot.waitUntil(p.settled, timeout=WAIT_MS)
        heard = desk.stop()
    assert strength(heard, 300) > 0.01 and strength(heard, 900) > 0.01  # both stretches
    assert told.positions[-1] == pytest.approx(2.5) and told.states == [True, False]
    assert np.all(np.diff(told.positions) >= 0)


def test_a_conversation_plays_from_its_turn_on_the_saved_speaker(qtbot, two_sinks, tmp_path):
    # The memory browser has no settings dialog: it plays on the speaker saved on the
    # Audio page (the app's own QSettings, in this test's config folder; put back after).
    from arcus_desktop.bridge.settings_store import QSettingsStore
    from arcus_desktop.settings import app_settings
    from arcus_desktop.ui.memory_browser.conversation import Playback

    store = QSettingsStore()
    saved = app_settings.load(store)
    chosen = saved.copy()
    chosen.audio.output_device = "USB Headset"
    app_settings.save(store, chosen)
    try:
        playback = Playback()
        messages = []
        playback.message.connect(messages.append)
        path = wav(tmp_path, tone(300, 2.0), tone(900, 1.5))
        with steady_sink("usb"):
            usb, default = recording("usb"), Recorder("spk")
            with qtbot.waitSignal(playback.player.finished, timeout=WAIT_MS):
                playback.play(str(path), 2.0)  # the turn at 0:02
            qtbot.waitUntil(playback.player.settled, timeout=WAIT_MS)
            on_usb, on_default = usb.stop(), default.stop()
    finally:
        app_settings.save(store, saved)
    assert messages == ["Playing from 0:02."]
    assert strength(on_usb, 900) > 0.1 and strength(on_usb, 300) < 0.01
    assert strength(on_default, 900) < 0.001
