"""The engine process, live: the tiny model on the CPU, real PortAudio streams through a
real PulseAudio daemon (tests/pulse.py), the app's supervisor on the other end."""

from __future__ import annotations

import os
import signal
import threading


from arcus_desktop.audio.files import read_mono
from arcus_desktop.bridge.engine_supervisor import EngineSupervisor
from arcus_desktop.engine.host import HostConfig

from ..conftest import AUDIO
from ..pulse import feed

WAIT_MS = 120_000  # loading torch and the model in a fresh process takes a while here


def test_a_live_conversation_survives_an_engine_crash(qtbot, pulse, tiny_model, capsys):
    stop = threading.Event()
    # The recording's speech is 5-9 s of its 20 s: loop that part so every window hears it.
    speech = read_mono(AUDIO / "input_service.wav", 24_000)[4 * 24_000:10 * 24_000]
    feeder = feed(pulse, speech, stop, loop=True)
    supervisor = EngineSupervisor(HostConfig(model_dir=str(tiny_model), device="cpu"))
    pieces, stats, levels = [], [], []
    supervisor.text.connect(lambda piece, t: pieces.append((piece, t)))
    supervisor.stats.connect(stats.append)
    supervisor.levels.connect(lambda user, assistant: levels.append((user, assistant)))
    try:
        qtbot.waitSignal(supervisor.state_changed, timeout=WAIT_MS,
                         check_params_cb=lambda s, d: s == "ready").wait()
        with qtbot.waitSignal(supervisor.state_changed, timeout=WAIT_MS,
                              check_params_cb=lambda s, d: s == "talking"):
            supervisor.talk({"text": "You are a calm helper."})
        # 4 s of live frames, in which the microphone carried speech into the model.
        qtbot.waitUntil(lambda: len(stats) >= 2 and max(u for u, _ in levels) > 0.01,
                        timeout=WAIT_MS)
        assert pieces and [t for _, t in pieces] == sorted(t for _, t in pieces)
        with capsys.disabled():  # speed belongs to bench/, but say what happened here
            print(f"\nlive tiny model: {stats[-1]}")
        assert max(a for _, a in levels) > 0  # and the model's audio came out

        first = supervisor.process.pid
        with qtbot.waitSignal(supervisor.restarted, timeout=WAIT_MS) as why:
            os.kill(first, signal.SIGKILL)  # a GPU crash would look like this
        assert "exit code -9" in why.args[0]
        qtbot.waitSignal(supervisor.state_changed, timeout=WAIT_MS,
                         check_params_cb=lambda s, d: s == "ready").wait()
        assert supervisor.process.pid != first
    finally:
        code = supervisor.shutdown()
        stop.set()
        feeder.join(10)
    assert code == 0


def test_a_missing_model_is_reported_once_not_restarted(qtbot, tmp_path):
    supervisor = EngineSupervisor(HostConfig(model_dir=str(tmp_path / "no-model"), device="cpu"))
    restarts = []
    supervisor.restarted.connect(restarts.append)
    try:
        with qtbot.waitSignal(supervisor.failed, timeout=WAIT_MS) as told:
            pass
        assert "does not exist" in told.args[0] and told.args[1]
        qtbot.waitSignal(supervisor.state_changed, timeout=WAIT_MS,
                         check_params_cb=lambda s, d: s == "failed").wait()
        assert restarts == []
    finally:
        supervisor.shutdown(timeout_s=5)
