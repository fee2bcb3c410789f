"""What the conversation window tells the user when something stops them, and how it
comes back (issue 16): failures stay in the window with a button to the fix, engine
settings restart the engine by themselves, each conversation starts unmuted.

The engine is the real engine process (the test kit's tiny model on the CPU, or none
at all) or the real remote engine process; the settings are the real ones."""

from __future__ import annotations

import shutil
import threading
from dataclasses import replace

import numpy as np

from arcus_desktop.bridge.engine_supervisor import EngineSupervisor
from arcus_desktop.bridge.settings_store import SettingsService
from arcus_desktop.core.events import FrameStats
from arcus_desktop.settings.app_settings import DictStore
from arcus_desktop.ui.app import ArcusApp

from ..pulse import feed
from ..remote_stand_in import StandIn
from .scripted_engine import ScriptedEngine

WAIT_MS = 120_000  # torch and the model load in a fresh process


def no_hotkey(parent=None):
    from arcus_desktop.bridge.hotkey import HotkeyError

    raise HotkeyError("no hotkey in this test")


def make_settings(**changes) -> SettingsService:
    service = SettingsService(DictStore())
    s = service.settings.copy()
    s.memory.enabled = False
    s.audio.echo_cancellation = False
    for path, value in changes.items():
        section, name = path.split("__")
        setattr(getattr(s, section), name, value)
    service.apply(s)
    return service


def tiny_engine_app(qtbot, tiny_model, settings: SettingsService) -> ArcusApp:
    """The app as run() builds it, its engine the real process on the tiny model."""
    app = None

    def engine():
        config = replace(app.session.host_config(), model_dir=str(tiny_model), device="cpu")
        return EngineSupervisor(config)

    app = ArcusApp(engine_factory=engine, hotkey_backend=no_hotkey, tray=False,
                   settings=settings)
    qtbot.addWidget(app.window)
    qtbot.addWidget(app.session.window)
    return app


def problem(window) -> tuple[str, list[str]]:
    """The failure the window shows (its message) and its buttons' labels."""
    bar = window.status.problem
    if not bar.isVisible() or bar.kind != "error":
        return "", []
    return bar.message.text(), [b.text().replace("&", "") for b in bar.action_buttons()]


def click(window, label: str) -> None:
    for button in window.status.problem.action_buttons():
        if button.text().replace("&", "") == label:
            button.click()
            return
    raise AssertionError(f"no {label!r} button in {problem(window)}")


def talk_reason_is_shown(window) -> bool:
    """Talk is usable, or the reason it is not is next to it (loading)."""
    return window.talk_button.isEnabled() or (
        window.status.progress.isVisible() or "Loading" in window.status.summary.text())


# -- 2: failures stay in the window, with a way forward ----------------------------------------

def test_no_model_stays_in_the_window_with_run_setup(qtbot):
    app = ArcusApp(hotkey_backend=no_hotkey, tray=False, settings=make_settings())
    window = app.session.window
    qtbot.addWidget(app.window)
    qtbot.addWidget(window)
    try:
        app.controller.start_talk()  # no model here (and no GPU): the engine says so
        qtbot.waitUntil(lambda: app.controller.state == "error", timeout=WAIT_MS)
        message, buttons = problem(window)
        assert message and message == app.controller.error[0]
        assert "Run setup" in buttons and "Try again" in buttons
        assert window.talk_button.isVisible() and talk_reason_is_shown(window)
        qtbot.wait(200)  # ...and it stays: nothing takes it away by itself
        assert problem(window)[0] == message
        click(window, "Run setup")
        assert app.setup_wizard is not None and app.setup_wizard.isVisible()
        app.setup_wizard.reject()
    finally:
        app.shutdown()


def test_a_damaged_model_offers_setup_to_download_it_again(qtbot, tiny_model, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(tiny_model, folder)
    lm = folder / "model.safetensors"
    lm.write_bytes(b"\x07" * lm.stat().st_size)  # the size is right, the contents are not
    app = tiny_engine_app(qtbot, folder, make_settings())
    window = app.session.window
    try:
        app.controller.start_talk()
        qtbot.waitUntil(lambda: app.controller.state == "error", timeout=WAIT_MS)
        message, buttons = problem(window)
        assert "model.safetensors is damaged" in message
        assert window.status.problem.hint.text() == "Run setup to download the model again."
        assert buttons == ["Run setup", "Try again"]
        click(window, "Run setup")
        assert app.setup_wizard is not None and app.setup_wizard.isVisible()
        app.setup_wizard.reject()
    finally:
        app.shutdown()


def test_a_voice_file_that_is_not_audio_stays_in_the_window(qtbot, tiny_model, tmp_path):
    voice = tmp_path / "my voice.wav"
    voice.write_text("not a recording")
    settings = make_settings(voice__use_own=True, voice__consent=True,
                             voice__own_recording=str(voice))
    app = tiny_engine_app(qtbot, tiny_model, settings)
    window = app.session.window
    try:
        app.controller.start_talk()
        qtbot.waitUntil(lambda: app.controller.error is not None, timeout=WAIT_MS)
        qtbot.waitUntil(lambda: app.controller.engine_state == "ready", timeout=WAIT_MS)
        qtbot.waitUntil(lambda: window.state == "ready", timeout=WAIT_MS)
        message, buttons = problem(window)  # "Ready" alone would hide why nothing happened
        assert message == app.controller.error[0]
        assert "Open Settings" in buttons
        assert window.talk_button.isEnabled()
        with qtbot.waitSignal(app.open_settings):
            click(window, "Open Settings")
    finally:
        app.shutdown()


def test_an_unreachable_team_server_stays_in_the_window_with_retry(qtbot):
    with StandIn() as server:
        url = server.url  # and then it is gone: nothing listens there any more
    settings = make_settings(engine__mode="server", engine__server_url=url)
    app = ArcusApp(hotkey_backend=no_hotkey, tray=False, settings=settings)
    window = app.session.window
    qtbot.addWidget(app.window)
    qtbot.addWidget(window)
    try:
        app.controller.start_talk()
        qtbot.waitUntil(lambda: app.controller.error is not None, timeout=60_000)
        qtbot.waitUntil(lambda: window.state == "ready", timeout=60_000)
        message, buttons = problem(window)
        assert message == app.controller.error[0] and "127.0.0.1" in message
        assert "Try again" in buttons and "Open Settings" in buttons
        click(window, "Try again")  # a new try: the old failure goes while it runs
        assert app.controller.want_talk or app.controller.error is not None
        qtbot.waitUntil(lambda: app.controller.error is not None and
                        problem(window)[0] == message, timeout=60_000)
    finally:
        app.shutdown()


def test_a_team_server_lost_for_good_stays_in_the_window(qtbot, pulse):
    """The server goes away mid-conversation; the engine tries to reconnect (about 24 s
    of waits), gives up, and is ready again: the window must not just say "Ready"."""
    stop = threading.Event()
    feeder = feed(pulse, np.zeros(24_000, np.float32), stop, loop=True, realtime=True)
    server = StandIn().__enter__()
    settings = make_settings(engine__mode="server", engine__server_url=server.url)
    app = ArcusApp(hotkey_backend=no_hotkey, tray=False, settings=settings)
    window = app.session.window
    qtbot.addWidget(app.window)
    qtbot.addWidget(window)
    try:
        with qtbot.waitSignal(app.controller.conversation_started, timeout=60_000):
            app.controller.start_talk()
        server.__exit__(None, None, None)
        qtbot.waitUntil(lambda: app.controller.error is not None, timeout=90_000)
        qtbot.waitUntil(lambda: window.state == "ready", timeout=30_000)
        message, buttons = problem(window)
        assert message == app.controller.error[0] and "team server" in message
        assert "Try again" in buttons and "Open Settings" in buttons
        assert window.talk_button.isEnabled()
    finally:
        app.shutdown()
        stop.set()
        feeder.join(10)


# -- 3: engine settings restart the engine by themselves ---------------------------------------

def test_engine_settings_restart_the_engine_and_the_hotkey_talks_again(qtbot, pulse,
                                                                       tiny_model):
    from ..integration.test_conversation_window_live import voice_like

    stop = threading.Event()
    feeder = feed(pulse, voice_like(), stop, loop=True)
    # Set up (a model folder), so that the hotkey talks instead of opening setup.
    app = tiny_engine_app(qtbot, tiny_model, make_settings(engine__model_dir=str(tiny_model)))
    window = app.session.window
    try:
        with qtbot.waitSignal(app.controller.conversation_started, timeout=WAIT_MS):
            app.controller.start_talk()
        app.controller.end_talk()
        qtbot.waitUntil(lambda: window.state == "ready", timeout=WAIT_MS)
        first = app.controller.engine
        new = app.settings.settings
        new.audio.echo_cancellation = True
        app.settings.apply(new)  # as Settings' OK does
        # By itself: a new engine with the new settings, loaded, and Talk usable.
        qtbot.waitUntil(lambda: app.controller.engine is not first and
                        app.controller.engine_state == "ready", timeout=WAIT_MS)
        assert app.controller.engine.config.echo_cancellation is True
        qtbot.waitUntil(lambda: window.state == "ready", timeout=WAIT_MS)
        assert window.talk_button.isEnabled() and "stopped" not in \
            window.status.summary.text()
        with qtbot.waitSignal(app.controller.conversation_started, timeout=WAIT_MS):
            app.hotkey.pressed.emit()  # the global hotkey, as its backend reports it
        app.controller.end_talk()
        qtbot.waitUntil(lambda: window.state == "ready", timeout=WAIT_MS)
    finally:
        app.shutdown()
        stop.set()
        feeder.join(10)


def test_the_hotkey_is_registered_again_only_when_it_changed(qtbot):
    registered = []

    class Backend(ScriptedEngine):  # a hotkey backend that counts: (no desktop needed)
        supports_release = False

        def __init__(self, parent=None):
            super().__init__()

        def register(self, hotkey):
            registered.append(hotkey)

        def unregister(self):
            pass

        def close(self):
            pass

    from PySide6.QtCore import Signal

    Backend.pressed, Backend.released = Signal(), Signal()
    Backend.registered, Backend.failed = Signal(str), Signal(str, str)
    settings = make_settings(hotkey__shortcut="Alt+T")
    app = ArcusApp(engine_factory=lambda: ScriptedEngine(auto=True), hotkey_backend=Backend,
                   tray=False, settings=settings)
    qtbot.addWidget(app.window)
    qtbot.addWidget(app.session.window)
    app.set_hotkey("Alt+T")  # as run() does
    before = len(registered)
    new = settings.settings
    new.audio.echo_cancellation = True
    settings.apply(new)
    assert len(registered) == before and app.hotkey.hotkey is not None
    new = settings.settings
    new.hotkey.shortcut = "Ctrl+Alt+T"
    settings.apply(new)  # this one did change
    assert len(registered) == before + 1
    app.shutdown()


# -- 9: each conversation starts unmuted; no "0 ms a frame" while muted ------------------------

def test_a_new_conversation_starts_unmuted(qtbot, tiny_model):
    engines = []
    settings = make_settings(engine__model_dir=str(tiny_model))  # set up: --toggle talks
    app = ArcusApp(engine_factory=lambda: engines.append(ScriptedEngine(auto=True)) or
                   engines[-1], hotkey_backend=no_hotkey, tray=True, settings=settings)
    window = app.session.window
    qtbot.addWidget(app.window)
    qtbot.addWidget(window)
    try:
        app.controller.start_talk()
        qtbot.waitUntil(lambda: app.controller.state == "listening")
        window.mute_button.click()
        assert app.controller.state == "muted"
        app.controller.end_talk()
        qtbot.waitUntil(lambda: window.state == "ready")
        app.handle_command("toggle")  # `arcus-desktop --toggle`, or the hotkey
        qtbot.waitUntil(lambda: app.controller.conversation is not None and
                        app.controller.state in ("listening", "muted"))
        assert app.controller.state == "listening" and not app.controller.muted
        assert not window.mute_button.isChecked()
        assert not app.tray.mute_action.isChecked()
        calls = engines[-1].calls
        talk = max(i for i, c in enumerate(calls) if c[0] == "talk")
        assert ("mute", False) in calls[:talk]  # the engine hears the user from the start
    finally:
        app.shutdown()


def test_no_frame_time_shows_while_muted(qtbot):
    app = ArcusApp(engine_factory=lambda: ScriptedEngine(auto=True), hotkey_backend=no_hotkey,
                   tray=False, settings=make_settings(engine__mode="server",
                                                     engine__server_url="https://gpu:8998"))
    window = app.session.window
    qtbot.addWidget(app.window)
    qtbot.addWidget(window)
    try:
        app.controller.start_talk()
        qtbot.waitUntil(lambda: app.controller.state == "listening")
        engine = app.controller.engine
        engine.stats.emit(FrameStats(25, 3.0, 5.0, 0.04, 0, 0, latency_ms=120.0))
        assert "3 ms a frame" in window.status.summary.text()
        window.mute_button.click()
        engine.stats.emit(FrameStats(50, 0.01, 0.02, 0.0, 0, 0, latency_ms=None))
        text = window.status.summary.text()
        assert "ms a frame" not in text and "uted" in text
    finally:
        app.shutdown()


# -- 11: the transcript shows each turn once, at its time ------------------------------------

def test_a_team_server_conversations_transcript_has_each_turn_once(qtbot, pulse, tiny_model):
    """The team server itself (the tiny model: it talks all the time) while the user
    speaks over it now and then: live, Arcus's words fall into rows before and after
    each of the user's turns; the turn detector's turns at the end make them one."""
    from arcus_desktop.server.config import ServerConfig

    from ..server_thread import serving

    t = np.arange(3 * 24_000) / 24_000  # 1.2 s of the user's "voice" every 3 s
    voice = (0.3 * (t < 1.2) * np.sin(2 * np.pi * 300 * t)).astype(np.float32)
    stop = threading.Event()
    feeder = feed(pulse, voice, stop, loop=True, realtime=True)
    config = ServerConfig(host="127.0.0.1", port=0, max_sessions=1)
    with serving(tiny_model, config) as url:
        settings = make_settings(engine__mode="server", engine__server_url=url)
        app = ArcusApp(hotkey_backend=no_hotkey, tray=False, settings=settings)
        window = app.session.window
        qtbot.addWidget(app.window)
        qtbot.addWidget(window)
        try:
            app.controller.start_talk()
            qtbot.waitUntil(lambda: sum(t.speaker == "user" for t in window.model.turns) >= 2,
                            timeout=60_000)
            app.controller.end_talk()
            qtbot.waitUntil(lambda: window.state == "ready", timeout=30_000)
            qtbot.waitUntil(lambda: all(t.final for t in window.model.turns))
        finally:
            app.shutdown()
            stop.set()
            feeder.join(10)
    for speaker in ("user", "assistant"):
        mine = sorted((t for t in window.model.turns if t.speaker == speaker),
                      key=lambda t: t.start)
        for before, after in zip(mine, mine[1:]):  # one turn shown twice would overlap
            assert after.start >= before.end - 0.08, [(t.start, t.end, t.text) for t in mine]
    starts = [t.start for t in window.model.turns if t.speaker == "user"]
    # Each at its own time (not all 0:00): the voice comes back every 3 s.
    assert starts == sorted(set(starts)) and starts[-1] >= 1.0, starts
