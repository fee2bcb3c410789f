"""Hearing a preset voice before choosing it: the Voice page's play button, the app's
controller and the real engine process with the tiny model on the CPU (its sample is
the tiny model's random sound, played through PortAudio to a real PulseAudio
daemon, tests/pulse.py). The second time the sample comes from the data folder."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import numpy as np
import pytest

from arcus_desktop.audio.files import read_clip
from arcus_desktop.bridge.controller import AppController
from arcus_desktop.bridge.engine_supervisor import EngineSupervisor
from arcus_desktop.bridge.model_info import read_model_info
from arcus_desktop.bridge.voice_samples import VoiceSamples
from arcus_desktop.core import paths, previews
from arcus_desktop.engine.host import HostConfig
from arcus_desktop.ui.settings import SettingsDialog

from ..pulse import feed, steady_sink
from ..qt.settings_fixtures import ini, service  # noqa: F401 (fixtures)

WAIT_MS = 120_000  # loading torch and the model in a fresh process takes a while here


@pytest.fixture
def app(qtbot, tiny_model):
    started = []

    def engine():
        started.append(EngineSupervisor(HostConfig(model_dir=str(tiny_model), device="cpu")))
        return started[-1]

    controller = AppController(engine)
    yield controller, started
    controller.shutdown()


def test_a_preset_voice_is_made_by_the_engine_then_played_from_the_data_folder(
        qtbot, app, service, tiny_model, pulse):
    controller, started = app
    samples = VoiceSamples(controller)
    dialog = SettingsDialog(service, model_info=read_model_info(tiny_model),
                            list_devices=lambda refresh=False: [], voice_samples=samples)
    qtbot.addWidget(dialog)
    dialog.show()
    panel = dialog.voice.samples
    said = []
    samples.waiting.connect(lambda voice, text: said.append(text))

    with steady_sink():
        panel.buttons["NATM1"].click()  # the engine is not running: it says so, no traceback
        assert "Start the engine to hear voices" in panel.message.text()
        assert panel.start_button.isVisible() and not started

        with qtbot.waitSignal(samples.ready, timeout=WAIT_MS) as made:
            panel.start_button.click()  # started for it; the sample follows once it is ready
        assert len(started) == 1 and controller.engine_state == "ready"
        assert not controller.talking  # no conversation was started
        assert any("Making a sample of NATM1" in text for text in said)
        path = Path(made.args[1])
        assert made.args[0] == "NATM1" and path == previews.path_for("NATM1")
        assert path.parent == paths.data_dir() / "voice-samples"
        clip = read_clip(path, 24_000, 60)
        assert clip.seconds == pytest.approx(previews.SECONDS, abs=0.1)  # bounded
        assert clip.pcm.any()
        qtbot.waitUntil(lambda: panel.playing == "NATM1", timeout=10_000)
        assert panel.buttons["NATM1"].text() == "■"
        with qtbot.waitSignal(panel.playing_changed, timeout=10_000):
            panel.buttons["NATM1"].click()  # stopped
        assert panel.playing == "" and panel.message.text() == ""

        controller.shutdown()  # the engine is gone: the sample is kept, plays at once
        again = []
        samples.ready.connect(lambda voice, path: again.append((voice, path)))
        panel.buttons["NATM1"].click()
        assert again == [("NATM1", str(path))] and len(started) == 1
        qtbot.waitUntil(lambda: panel.playing == "NATM1", timeout=10_000)

        panel.buttons["NATF0"].click()  # one never made: the engine is asked for again
        assert "Start the engine to hear voices" in panel.message.text()
        assert panel.playing == ""
        qtbot.waitUntil(panel.player.settled, timeout=10_000)  # before the daemon goes


def test_the_engine_refuses_a_sample_during_a_conversation_and_bounds_its_length(
        qtbot, tiny_model, pulse):
    supervisor = EngineSupervisor(HostConfig(model_dir=str(tiny_model), device="cpu"))
    answers, states = [], []
    supervisor.voice_sample.connect(lambda *args: answers.append(args))
    supervisor.state_changed.connect(lambda state, _d: states.append(state))
    try:
        qtbot.waitUntil(lambda: "ready" in states, timeout=WAIT_MS)
        supervisor.preview("VARF3", seconds=600)  # asked for far too long: cut to the bound
        supervisor.preview("../../etc/passwd")
        qtbot.waitUntil(lambda: len(answers) == 2, timeout=WAIT_MS)
        voice, path, message, _hint = answers[0]
        assert voice == "VARF3" and not message
        assert read_clip(path, 24_000, 60).seconds == pytest.approx(previews.MAX_SECONDS,
                                                                   abs=0.1)
        assert answers[1][1] == "" and "no preset voice" in answers[1][2]

        stop = threading.Event()
        feeder = feed(pulse, np.zeros(24_000, np.float32), stop, loop=True)  # a quiet room
        with steady_sink():
            supervisor.talk({"text": "You are a calm helper."})
            qtbot.waitUntil(lambda: "talking" in states, timeout=WAIT_MS)
            supervisor.preview("NATF0")
            qtbot.waitUntil(lambda: len(answers) == 3, timeout=WAIT_MS)
            assert answers[2][1] == "" and "no conversation" in answers[2][2]
            supervisor.stop_talking()
            qtbot.waitUntil(lambda: states[-1] == "ready", timeout=WAIT_MS)
        stop.set()
        feeder.join(10)
    finally:
        supervisor.shutdown()


def test_an_engine_that_cannot_start_says_why_instead_of_playing(qtbot, service, tmp_path):
    controller = AppController(lambda: EngineSupervisor(
        HostConfig(model_dir=str(tmp_path / "no-model-here"), device="cpu")))
    samples = VoiceSamples(controller)
    dialog = SettingsDialog(service, model_info=None, model_dir=tmp_path / "no-model-here",
                            list_devices=lambda refresh=False: [], voice_samples=samples)
    qtbot.addWidget(dialog)
    dialog.show()
    panel = dialog.voice.samples
    qtbot.waitUntil(lambda: bool(panel.buttons), timeout=WAIT_MS)  # the published voices
    try:
        panel.buttons["NATF2"].click()
        with qtbot.waitSignal(samples.failed, timeout=WAIT_MS) as failed:
            panel.start_button.click()
        assert failed.args[0] == "NATF2"
        assert panel.message.kind == "error" and panel.message.text() == failed.args[1]
        assert "model" in failed.args[1].lower() and "Traceback" not in failed.args[1]
        assert panel.playing == ""
    finally:
        controller.shutdown()


def test_an_engine_that_dies_while_making_a_sample_is_not_asked_again(qtbot, app, service,
                                                                      tiny_model):
    controller, started = app
    samples = VoiceSamples(controller)
    dialog = SettingsDialog(service, model_info=read_model_info(tiny_model),
                            list_devices=lambda refresh=False: [], voice_samples=samples)
    qtbot.addWidget(dialog)
    dialog.show()
    panel = dialog.voice.samples
    controller.start_engine()
    qtbot.waitUntil(lambda: controller.engine_state == "ready", timeout=WAIT_MS)
    pid = started[0].process.pid
    os.kill(pid, signal.SIGSTOP)  # frozen: the sample asked for next cannot be answered
    panel.buttons["VARF3"].click()
    assert samples.asked == "VARF3"
    with qtbot.waitSignal(samples.failed, timeout=WAIT_MS) as failed:
        os.kill(pid, signal.SIGKILL)  # as a crash of the GPU driver would
    assert "stopped while making the sample" in failed.args[1]
    assert "restarting" in panel.message.text() and samples.asked is None
    qtbot.waitUntil(lambda: controller.engine_state == "ready", timeout=WAIT_MS)
    assert samples.asked is None and not previews.path_for("VARF3").exists()
    with qtbot.waitSignal(samples.ready, timeout=WAIT_MS):  # and trying again works
        panel.buttons["VARF3"].click()
