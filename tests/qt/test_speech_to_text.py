"""Speech-to-text for a GUI user (issue 16): without it the engine's notice used to say
"Download it with: arcus-desktop download --stt", a command a tray app's user has no
reason to know. Now the notice has a button to Settings > Engine > Speech-to-text, which
downloads the model (from a local stand-in for the hub here) and the next engine uses
it; a team server's missing model is its owner's to add, so no button then. The command
line keeps its own hint (tests/integration/test_converse_cli.py, tests/unit/test_stt.py)."""

from __future__ import annotations

import threading

from arcus_desktop.engine.download import STT_FILES, STT_REPO_ID, find_cached_model
from arcus_desktop.engine.stt_checkpoint import NOT_INSTALLED
from arcus_desktop.ui.app import ArcusApp

from ..hubstub import HubStub
from ..pulse import feed
from .scripted_engine import ScriptedEngine
from .settings_fixtures import ini, service  # noqa: F401 (fixtures)
from .test_settings_dialog import open_dialog
from .test_window_errors import WAIT_MS, make_settings, no_hotkey, tiny_engine_app


def notice(window) -> tuple[str, str, list[str]]:
    """The notice the conversation window shows: message, hint, its buttons' labels."""
    bar = window.status.message
    if not bar.isVisible() or bar.kind != "notice":
        return "", "", []
    return (bar.message.text(), bar.hint.text(),
            [b.text().replace("&", "") for b in bar.action_buttons()])


def press(window, label: str) -> None:
    for button in window.status.message.action_buttons():
        if button.text().replace("&", "") == label:
            button.click()
            return
    raise AssertionError(f"no {label!r} button in {notice(window)}")


def test_the_engines_notice_leads_to_the_download_in_settings(qtbot, pulse, tiny_model):
    """The real engine process (the tiny model, no speech-to-text installed)."""
    import numpy as np

    stop = threading.Event()
    feeder = feed(pulse, np.zeros(24_000, np.float32), stop, loop=True, realtime=True)
    app = tiny_engine_app(qtbot, tiny_model, make_settings(engine__model_dir=str(tiny_model)))
    window = app.session.window
    try:
        app.controller.start_talk()
        qtbot.waitUntil(lambda: "speech-to-text" in notice(window)[0], timeout=WAIT_MS)
        message, hint, buttons = notice(window)
        assert message == NOT_INSTALLED
        assert "arcus-desktop" not in hint and "Settings > Engine > Speech-to-text" in hint
        assert buttons == ["Get speech-to-text…"]
        assert window.status.message.close_button.isVisible()  # a notice: dismissable
        press(window, "Get speech-to-text…")
        dialog = app.settings_dialog
        qtbot.waitExposed(dialog)
        assert dialog.stack.currentWidget() is dialog.engine
        speech = dialog.engine.speech
        assert speech.button.isVisible() and dialog.focusWidget() is speech.button
        assert "Download speech-to-text" in speech.button.text().replace("&", "")
        app.controller.end_talk()
    finally:
        app.shutdown()
        stop.set()
        feeder.join(10)


def test_settings_download_speech_to_text_for_the_next_engine(qtbot, service, tiny_stt):
    with HubStub(tiny_stt, STT_REPO_ID) as hub:  # public: no token
        dialog = open_dialog(qtbot, service, hub_endpoint=hub.endpoint)
        speech = dialog.engine.speech
        dialog.show_page(dialog.engine.title)
        assert speech.status.label.text().startswith("Not installed")
        with qtbot.waitSignal(speech.installed, timeout=60_000) as installed:
            speech.button.click()
            assert "Cancel" in speech.button.text()  # while it runs
        fetched = {r.path.rsplit("/", 1)[-1] for r in hub.requests if "/resolve/" in r.path}
    assert fetched == set(STT_FILES)
    assert installed.args[0] == find_cached_model(STT_REPO_ID)  # where the engine looks
    assert speech.status.kind == "ok" and "next conversation" in speech.status.label.text()
    assert not speech.button.isVisible()
    dialog.close()
    dialog.show()  # opened again: it says so, without a button
    assert speech.status.label.text().startswith("Installed") and not speech.button.isVisible()


def test_a_download_that_fails_says_why_and_can_be_tried_again(qtbot, service, tiny_stt):
    with HubStub(tiny_stt, STT_REPO_ID) as hub:
        hub.required_token = "hf_someone_elses"  # what this app cannot give: refused
        dialog = open_dialog(qtbot, service, hub_endpoint=hub.endpoint)
        speech = dialog.engine.speech
        dialog.show_page(dialog.engine.title)
        speech.button.click()
        qtbot.waitUntil(lambda: speech.status.kind == "error", timeout=60_000)
    assert speech.button.isVisible() and "Download" in speech.button.text()
    assert find_cached_model(STT_REPO_ID) is None
    assert "--" not in speech.status.text()  # no command-line options in a window


def test_a_network_failure_says_what_to_do_in_this_rows_words(qtbot, service, monkeypatch):
    import socket

    with socket.socket() as s:  # a port nothing listens on once this socket is closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dialog = open_dialog(qtbot, service, hub_endpoint=f"http://127.0.0.1:{port}")
    speech = dialog.engine.speech
    dialog.show_page(dialog.engine.title)
    speech.button.click()
    qtbot.waitUntil(lambda: speech.status.kind == "error", timeout=60_000)
    assert "internet connection" in speech.status.text() and "--model-dir" not in \
        speech.status.text()


def test_a_downloaded_model_restarts_an_idle_engine_and_a_team_servers_note_has_no_button(
        qtbot):
    engines: list[ScriptedEngine] = []

    def engine():
        engines.append(ScriptedEngine(auto=True))
        return engines[-1]

    settings = make_settings()
    app = ArcusApp(engine_factory=engine, hotkey_backend=no_hotkey, tray=False,
                   settings=settings)
    window = app.session.window
    qtbot.addWidget(app.window)
    qtbot.addWidget(window)
    try:
        app.controller.start_talk()
        qtbot.waitUntil(lambda: window.talking)
        engines[-1].notice.emit(NOT_INSTALLED, "")
        assert notice(window)[2] == ["Get speech-to-text…"]
        app.controller.end_talk()
        qtbot.waitUntil(lambda: window.state == "ready")
        app.show_settings()
        app.settings_dialog.engine.speech.installed.emit(None)  # as a finished download
        assert len(engines) == 2  # the next engine loads it, ready for the next talk
        app.settings_dialog.close()

        s = settings.settings.copy()
        s.engine.mode, s.engine.server_url = "server", "https://gpu-box:8998"
        settings.apply(s)
        window.status.message.dismiss()
        engines[-1].notice.emit(NOT_INSTALLED, "")  # the team server's own note
        assert notice(window)[0] == NOT_INSTALLED and notice(window)[2] == []
    finally:
        app.shutdown()
