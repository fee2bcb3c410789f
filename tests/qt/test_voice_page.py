"""The Voice page's own voice: a file checked when the settings are applied, and a voice
recorded in the app from a real PulseAudio microphone (tests/pulse.py) that plays the
shared speech recordings; and what the preset voices' play buttons say without an engine.
(The samples made by the real engine process: tests/integration/test_voice_samples.py.)"""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from arcus_desktop.audio.files import read_clip, read_mono, write_wav
from arcus_desktop.audio.voice_check import MAX_VOICE_SECONDS, MIN_VOICE_SECONDS
from arcus_desktop.bridge.controller import AppController
from arcus_desktop.bridge.model_info import read_model_info
from arcus_desktop.bridge.voice_samples import VoiceSamples
from arcus_desktop.core import paths
from arcus_desktop.ui.settings import SettingsDialog, voice_recorder
from arcus_desktop.ui.settings.voice_recorder import RecorderBox

from ..conftest import AUDIO
from ..pulse import feed, steady_sink
from .settings_fixtures import ini, service  # noqa: F401 (fixtures)
from .test_tray import TRACEBACK_HINT

RATE = 24_000
WAIT_MS = 30_000
DEV_FULL = Path("/dev/full")  # every write to it fails with ENOSPC, as on a full disk


def no_devices(refresh: bool = False):
    return []


@pytest.fixture(scope="session")
def tiny_info(tiny_model):
    return read_model_info(tiny_model)


def open_dialog(qtbot, service, info, **kwargs) -> SettingsDialog:
    dialog = SettingsDialog(service, model_info=info, list_devices=no_devices, **kwargs)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.sidebar.setCurrentRow(dialog.pages.index(dialog.voice))
    return dialog


def own_message(dialog) -> str:
    return dialog.voice.fields["voice/own_recording"][1].text()


def speech(seconds: float) -> np.ndarray:
    """Real speech from the shared recordings (its talking part), `seconds` long."""
    talk = read_mono(AUDIO / "input_assistant.wav", RATE)[3 * RATE:39 * RATE]
    return talk[: int(seconds * RATE)].copy()


def choose_file(qtbot, dialog, path: Path) -> None:
    page = dialog.voice
    page.own_choice.click()
    page.path.clear()
    qtbot.keyClicks(page.path, str(path))
    page.consent.click()


# --- a file, checked at Apply ------------------------------------------------------------


@pytest.mark.parametrize("kind, says", [
    ("text", "not an audio file"),
    ("short", "too short"),
    ("silent", "silent"),
])
def test_an_own_voice_file_is_checked_when_applied(qtbot, service, tiny_info, tmp_path, kind,
                                                   says):
    path = tmp_path / "voice.wav"
    if kind == "text":  # a text file renamed .wav
        path.write_text("These are my notes, not a recording.\n" * 40)
    elif kind == "short":
        write_wav(path, speech(2.0), RATE)
    else:
        write_wav(path, np.zeros(8 * RATE, np.float32), RATE)
    dialog = open_dialog(qtbot, service, tiny_info)
    choose_file(qtbot, dialog, path)
    assert not dialog.apply()  # refused now, not at the next conversation
    assert says in own_message(dialog)
    assert dialog.stack.currentWidget() is dialog.voice
    assert service.settings.voice.use_own is False  # nothing saved

    write_wav(path, speech(8.0), RATE)  # fixed: the same file, now a real voice
    assert dialog.apply()
    assert own_message(dialog) == ""
    assert service.settings.voice.own_recording == str(path)


def test_a_long_file_is_taken_with_a_note_that_only_its_start_is_used(qtbot, service,
                                                                      tiny_info, tmp_path):
    path = tmp_path / "interview.wav"
    write_wav(path, speech(MAX_VOICE_SECONDS + 5), RATE)
    dialog = open_dialog(qtbot, service, tiny_info)
    choose_file(qtbot, dialog, path)
    assert dialog.apply()
    assert f"only its first {MAX_VOICE_SECONDS:.0f} s are used" in own_message(dialog)
    assert dialog.voice.fields["voice/own_recording"][1].kind == "info"


# --- recorded in the app -------------------------------------------------------------------


@pytest.fixture
def microphone(pulse):
    """The PulseAudio microphone, and a way to speak into it (real time, like a person)."""
    stops = []

    def say(pcm: np.ndarray) -> threading.Event:
        stop = threading.Event()
        stops.append((stop, feed(pulse, pcm, stop)))
        return stop

    with steady_sink():
        yield say
    for stop, thread in stops:
        stop.set()
        thread.join(10)


def test_a_voice_recorded_in_the_app_is_checked_saved_and_chosen(qtbot, service, tiny_info,
                                                                  microphone):
    dialog = open_dialog(qtbot, service, tiny_info)
    page = dialog.voice
    assert not page.recorder.record.isEnabled()  # the preset is chosen: recording is off
    page.own_choice.click()
    recorder = page.recorder
    levels = []
    recorder.meter.valueChanged.connect(levels.append)
    microphone(speech(12.0))
    recorder.record.click()
    assert recorder.recording and recorder.meter.isVisible()
    qtbot.waitUntil(lambda: recorder.seconds >= MIN_VOICE_SECONDS + 2, timeout=WAIT_MS)
    assert max(levels) > 40  # the level meter moved with the voice (over -36 dBFS)
    recorder.record.click()  # Stop
    assert not recorder.recording
    assert "error" != recorder.message.kind, recorder.message.text()

    take = Path(page.path.text())
    assert take.parent == paths.data_dir() / "voices" and take.is_file()
    clip = read_clip(take, RATE, 60)
    assert MIN_VOICE_SECONDS + 2 <= clip.seconds < 12
    assert 20 * np.log10(np.sqrt(np.mean(clip.pcm ** 2))) > -40  # the voice, not silence
    assert page.own_choice.isChecked() and not page.consent.isChecked()
    assert not dialog.apply()  # consent is asked for the new recording
    page.consent.click()
    assert dialog.apply()
    assert service.settings.voice.own_recording == str(take)
    assert service.settings.to_persona().voice_file == str(take)

    with qtbot.waitSignal(recorder.listen.finished, timeout=WAIT_MS * 2):  # Play back
        recorder.listen.click()
        qtbot.waitUntil(lambda: recorder.listen.playing, timeout=WAIT_MS)
        recorder.listen.click()
    qtbot.waitUntil(recorder.listen.player.settled, timeout=WAIT_MS)

    microphone(speech(1.5))  # Record again: too short, so not offered
    recorder.record.click()
    qtbot.waitUntil(lambda: recorder.seconds >= 1.0, timeout=WAIT_MS)
    recorder.record.click()
    assert "too short" in recorder.message.text() and recorder.message.kind == "error"
    assert recorder.record.text() == "&Record again"
    assert page.path.text() == str(take) and take.is_file()  # the chosen one stays
    assert Path(recorder.listen.path).name == "last-unusable-take.wav"  # can be played back


def test_recording_stops_by_itself_at_the_limit(qtbot, microphone):
    box = RecorderBox(lambda: None, max_seconds=MIN_VOICE_SECONDS + 1)
    qtbot.addWidget(box)
    microphone(speech(12.0))
    with qtbot.waitSignal(box.recorded, timeout=WAIT_MS) as saved:
        box.record.click()
    assert not box.recording
    assert read_clip(saved.args[0], RATE, 60).seconds == pytest.approx(MIN_VOICE_SECONDS + 1,
                                                                       abs=0.05)
    assert "Recording stops at" in box.message.text()


@pytest.mark.skipif(not DEV_FULL.exists(), reason="needs Linux's /dev/full")
def test_a_take_that_cannot_be_saved_says_why_and_can_be_recorded_again(qtbot, monkeypatch):
    class Microphone:  # 1.5 s of speech: too short to use, saved only to be played back
        seconds, level, full, note, device_name = 0.0, 0.1, False, "", "Test microphone"

        def __init__(self, device, max_seconds) -> None:
            pass

        def start(self) -> None:
            pass

        def stop(self) -> np.ndarray:
            return speech(1.5)

    monkeypatch.setattr(voice_recorder, "VoiceRecorder", Microphone)
    part = voice_recorder.takes_dir() / (voice_recorder.REJECTED + ".part")
    part.parent.mkdir(parents=True)
    part.symlink_to(DEV_FULL)  # where the take is written first: the disk has no room
    box = RecorderBox(lambda: None)
    qtbot.addWidget(box)
    box.record.click()
    box.record.click()  # Stop: the take is checked, then saved
    assert box.message.kind == "error" and "The disk is full" in box.message.text()
    assert not box.recording and box.record.text() == "&Record again"
    assert not box.listen.isEnabled() and not os.path.lexists(part)


def test_when_the_sound_server_is_gone_recording_says_so(qtbot, pulse):
    subprocess.run(["pactl", "exit"], check=True)  # PulseAudio quits: no microphone at all
    box = RecorderBox(lambda: "USB Headset")  # and the one chosen is not plugged in
    qtbot.addWidget(box)
    box.record.click()
    assert not box.recording and box.record.text() == "&Record"
    assert box.message.kind == "error"
    assert "microphone could not be opened" in box.message.text()


# --- preset voices without an engine -------------------------------------------------------


def test_a_preset_voice_asks_for_the_engine_when_it_is_not_running(qtbot, service, tiny_info):
    controller = AppController(lambda: None)  # never started here
    samples = VoiceSamples(controller)
    dialog = open_dialog(qtbot, service, tiny_info, voice_samples=samples)
    panel = dialog.voice.samples
    assert set(panel.buttons) == set(tiny_info.voices)
    panel.buttons["NATF2"].click()
    assert "Start the engine to hear voices" in panel.message.text()
    assert panel.start_button.isVisible()

    voices = dialog.voice.voices
    first = voices.visualItemRect(voices.item(0)).center()
    first.setX(10)  # on the voice's name, away from its button
    holder = voices.itemWidget(voices.item(0))  # the row's button holder lies over it
    at = holder.mapFrom(voices.viewport(), first)
    qtbot.mouseClick(holder, Qt.MouseButton.LeftButton, pos=at)
    qtbot.mouseDClick(holder, Qt.MouseButton.LeftButton, pos=at)
    assert panel.wanted == tiny_info.voices[0] and panel.start_button.isVisible()

    alone = open_dialog(qtbot, service, tiny_info)  # no engine to start from here
    alone.voice.samples.buttons["NATF2"].click()
    assert "Start the engine to hear voices" in alone.voice.samples.message.text()
    assert not alone.voice.samples.start_button.isVisible()


def test_with_a_team_server_the_presets_say_they_cannot_be_heard_yet(qtbot, service, tiny_info):
    from .scripted_engine import ScriptedEngine  # a stand-in engine: no model on this side

    controller = AppController(lambda: ScriptedEngine(auto=True))
    samples = VoiceSamples(controller)
    dialog = open_dialog(qtbot, service, tiny_info, voice_samples=samples)
    panel = dialog.voice.samples
    panel.buttons["NATF0"].click()
    with qtbot.waitSignal(samples.failed, timeout=WAIT_MS):
        panel.start_button.click()
    assert "team server" in panel.message.text() and panel.message.kind == "error"
    panel.buttons["NATF2"].click()  # the engine is up now: told at once
    assert "team server" in panel.message.text() and panel.playing == ""


def test_a_sample_the_engine_failed_on_says_why_without_a_traceback(qtbot):
    from .scripted_engine import ScriptedEngine

    class Engine(ScriptedEngine):
        makes_samples = True  # as the engine process, which has the model

    controller = AppController(Engine)
    samples = VoiceSamples(controller)
    told = []
    samples.failed.connect(lambda voice, text: told.append(text))
    controller.start_engine()
    samples.request("NATF2")  # made once the engine is ready: it fails first
    controller.engine.failed.emit("The engine stopped: OSError: I/O error", TRACEBACK_HINT)
    assert told == ["The engine stopped: OSError: I/O error It is restarting."]
