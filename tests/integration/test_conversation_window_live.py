"""The conversation window on the real engine process: the tiny model on the CPU, real
audio through a PulseAudio daemon, the app's EngineSupervisor attached to the window."""

from __future__ import annotations

import threading

import numpy as np

from arcus_desktop.bridge.engine_supervisor import EngineSupervisor
from arcus_desktop.engine.host import HostConfig
from arcus_desktop.ui.conversation import ASSISTANT, ConversationWindow

from ..pulse import feed

WAIT_MS = 120_000  # torch and the model load in a fresh process


def voice_like(seconds: float = 3.0, rate: int = 24_000) -> np.ndarray:
    """A second of syllable-like tone bursts, then quiet: enough for the tiny model (it
    answers whatever it hears) and for the level meters."""
    t = np.arange(int(seconds * rate)) / rate
    envelope = np.clip(np.sin(2 * np.pi * 4 * t), 0, None) * (t < 1.0)
    return (0.2 * envelope * np.sin(2 * np.pi * 180 * t)).astype(np.float32)


def test_the_window_shows_what_the_engine_says(qtbot, pulse, tiny_model):
    stop = threading.Event()
    feeder = feed(pulse, voice_like(), stop, loop=True)
    supervisor = EngineSupervisor(HostConfig(model_dir=str(tiny_model), device="cpu"))
    window = ConversationWindow()
    qtbot.addWidget(window)
    window.attach(supervisor)
    window.show()
    try:
        qtbot.waitUntil(lambda: window.state == "ready", timeout=WAIT_MS)
        assert window.echo_cancellation is True  # from the supervisor's config
        conversation = supervisor.talk({"text": "You are a calm helper."})
        qtbot.waitUntil(lambda: any(t.speaker == ASSISTANT and t.has_words
                                    for t in window.model.turns), timeout=WAIT_MS)
        assert window.talking and window.conversation == conversation
        assert window.waveform.frames > 0
        window.end()  # the End button: the supervisor stops the conversation
        qtbot.waitUntil(lambda: window.state == "ready", timeout=WAIT_MS)
        assert all(t.final for t in window.model.turns)
    finally:
        window.detach()
        code = supervisor.shutdown()
        stop.set()
        feeder.join(10)
    assert code == 0
