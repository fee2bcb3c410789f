"""The app on a team server (settings' engine mode "server"): the real wiring
(ui/session.py, ui/app.py's engine factory) starts the remote engine, which talks to
the stand-in team server (tests/remote_stand_in.py, written from the documented
protocol) through a real PulseAudio daemon; and the remote path never needs torch."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from arcus_desktop.bridge.remote_supervisor import RemoteSupervisor
from arcus_desktop.bridge.settings_store import SettingsService
from arcus_desktop.engine.host import HostConfig
from arcus_desktop.remote.host import RemoteConfig
from arcus_desktop.settings.app_settings import DictStore
from arcus_desktop.ui.app import ArcusApp
from arcus_desktop.ui.session import host_config

from ..pulse import feed
from ..remote_stand_in import StandIn

ROOT = Path(__file__).resolve().parents[2]


def no_hotkey(parent=None):
    from arcus_desktop.bridge.hotkey import HotkeyError

    raise HotkeyError("no hotkey in this test")


def server_settings(url: str) -> SettingsService:
    service = SettingsService(DictStore())
    s = service.settings.copy()
    s.engine.mode, s.engine.server_url = "server", url
    s.audio.echo_cancellation = False
    s.memory.enabled = False
    service.apply(s)
    return service


def test_the_engine_mode_picks_the_engine():
    service = server_settings("https://gpu-box:8998")
    config = host_config(service.settings)
    assert isinstance(config, RemoteConfig) and config.server_url == "https://gpu-box:8998"
    assert config.token is None  # read from the keyring by the engine process, not here
    assert config.echo_cancellation is False
    s = service.settings.copy()
    s.engine.mode = "int8"
    assert isinstance(host_config(s), HostConfig) and host_config(s).quant_mode == "int8"


def test_the_app_talks_through_a_team_server_and_shows_the_round_trip(qtbot, pulse):
    import numpy as np

    tone = (0.3 * np.sin(2 * np.pi * 300 * np.arange(24_000) / 24_000)).astype(np.float32)
    stop = threading.Event()
    feeder = feed(pulse, tone, stop, loop=True, realtime=True)
    with StandIn() as server:
        app = ArcusApp(hotkey_backend=no_hotkey, tray=False, settings=server_settings(server.url))
        qtbot.addWidget(app.window)
        window = app.session.window
        qtbot.addWidget(window)
        try:
            app.controller.start_talk()
            assert isinstance(app.controller.engine, RemoteSupervisor)
            qtbot.waitUntil(lambda: "round trip" in window.status.summary.text(), timeout=60_000)
            assert "Remote server" in window.status.summary.text()
            assert app.controller.state in ("listening", "speaking")
            assert server.queries and server.frames_in > 0
            app.controller.end_talk()
            qtbot.waitUntil(lambda: app.controller.engine_state == "ready", timeout=30_000)
        finally:
            app.shutdown()
            stop.set()
            feeder.join(10)


def test_the_remote_path_runs_without_torch():
    code = """
import importlib.abc, sys
class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in ("torch", "moshi"):
            raise ImportError(name + " is not installed on this laptop")
sys.meta_path.insert(0, NoTorch())
import numpy as np
import arcus_desktop.bridge.remote_supervisor, arcus_desktop.remote.host, arcus_desktop.ui.app
from arcus_desktop.remote.client import RemoteLoop
from tests.remote_stand_in import StandIn
with StandIn() as server, RemoteLoop(server.url, None, {"text": "Hi"}) as loop:
    for _ in range(10):
        want = loop.received + 1
        loop.process(np.zeros(1920, np.float32))
        assert loop.wait_audio(want, 10)
print(sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "moshi")))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"
