"""The app's conversation side (ui/session.py): settings into each conversation and
into the engine process, the conversation window, memory in and out. The engine is the
scripted stand-in (tests/qt/scripted_engine.py); settings and memory are the real ones."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QPushButton

from arcus_desktop.bridge.memory_service import MemoryService
from arcus_desktop.bridge.settings_store import SettingsService
from arcus_desktop.core.turns import Turn, TurnEnded
from arcus_desktop.settings.app_settings import DictStore
from arcus_desktop.ui.app import ArcusApp

from .scripted_engine import ScriptedEngine

FACT = "The Orion launch moved to Friday the 14th."


def no_hotkey(parent=None):
    from arcus_desktop.bridge.hotkey import HotkeyError

    raise HotkeyError("no hotkey in this test")


class Rig:
    def __init__(self, qtbot, memory=None, auto: bool = True) -> None:
        self.auto = auto  # False: the engine says only what the test makes it say
        self.settings = SettingsService(DictStore())
        self.engines: list[ScriptedEngine] = []
        self.configs = []
        self.memory = memory
        self.app = ArcusApp(engine_factory=self._engine, hotkey_backend=no_hotkey, tray=False,
                            settings=self.settings, memory=memory)
        qtbot.addWidget(self.app.window)
        qtbot.addWidget(self.app.session.window)
        self.qtbot = qtbot

    def _engine(self) -> ScriptedEngine:
        self.configs.append(self.app.session.host_config())
        self.engines.append(ScriptedEngine(auto=self.auto))
        return self.engines[-1]

    @property
    def engine(self) -> ScriptedEngine:
        return self.engines[-1]

    def talk(self) -> None:
        self.app.controller.start_talk()
        self.qtbot.waitUntil(lambda: self.app.controller.state == "listening")


@pytest.fixture
def memory(qtbot, tmp_path, embedder):
    service = MemoryService(tmp_path / "memory.db", embedder=embedder)
    yield service
    service.shutdown()


def test_a_conversation_starts_with_the_settings_and_opens_the_window(qtbot):
    rig = Rig(qtbot)
    new = rig.settings.settings
    new.persona.text = "You are a patient maths teacher."
    new.voice.preset = "NATM1"
    new.sampling.audio_temperature, new.sampling.seed = 0.6, 7
    new.audio.echo_cancellation = False
    rig.settings.apply(new)
    rig.talk()
    assert rig.app.session.window.isVisible()
    assert rig.app.session.window.supervisor is rig.engine
    persona = next(c[1] for c in rig.engine.calls if c[0] == "talk")
    request = rig.engine.requests[0]
    assert persona["text"] == "You are a patient maths teacher." and persona["voice"] == "NATM1"
    assert request["sampling"]["temperature"] == 0.6 and request["seed"] == 7
    assert rig.configs[0].echo_cancellation is False
    assert rig.app.main_window is rig.app.session.window  # a second launch brings it forward

    rig.app.session.window.end()  # the window's End button
    qtbot.waitUntil(lambda: not rig.app.controller.want_talk)
    assert rig.engine.names()[-1] == "stop"


def test_volume_recordings_and_start_at_login_reach_where_they_act(qtbot, tmp_path):
    from arcus_desktop.settings import recording

    rig = Rig(qtbot)
    rig.talk()
    new = rig.settings.settings
    new.audio.volume = 40
    new.data.keep_recordings, new.data.retention_days = False, 7
    new.data.start_at_login = True
    rig.settings.apply(new)
    assert rig.engine.calls[-1] == ("volume", 0.4)
    kept = recording.load()  # what the engine process reads for each conversation
    assert (kept.enabled, kept.keep_days) == (False, 7)
    entry = tmp_path / "config" / "autostart" / "io.arcus.ArcusDesktop.desktop"
    assert "Exec=" in entry.read_text() and "arcus_desktop" in entry.read_text()
    new = rig.settings.settings
    new.data.start_at_login = False
    rig.settings.apply(new)
    assert not entry.exists()


def test_engine_settings_restart_the_engine_between_conversations(qtbot):
    rig = Rig(qtbot)
    rig.talk()
    new = rig.settings.settings
    new.audio.input_device = "USB headset"
    rig.settings.apply(new)  # other devices: switched to in place
    assert rig.engine.calls[-1] == ("devices", "USB headset", None)
    new = rig.settings.settings
    new.audio.echo_cancellation = False
    rig.settings.apply(new)  # during the conversation: it goes on
    assert len(rig.engines) == 1 and "shutdown" not in rig.engine.names()
    first = rig.engine
    rig.app.controller.end_talk()
    assert "shutdown" in first.names()  # when it ended, the old engine went...
    assert len(rig.engines) == 2  # ...and the new one started loading at once
    rig.talk()
    assert len(rig.engines) == 2 and rig.configs[1].input_device == "USB headset"
    assert rig.configs[1].echo_cancellation is False
    new = rig.settings.settings
    new.persona.text = "You are brief."
    rig.settings.apply(new)  # not an engine setting: the engine stays
    rig.app.controller.end_talk()
    assert len(rig.engines) == 2 and "shutdown" not in rig.engine.names()


def test_turns_become_memories_and_memories_come_back_in_the_persona(qtbot, memory, tiny_model,
                                                                    monkeypatch):
    from arcus_desktop.engine import download

    monkeypatch.setattr(download, "find_cached_model", lambda *a, **k: tiny_model)
    rig = Rig(qtbot, memory)
    new = rig.settings.settings
    # Room for memories: the test kit's tokenizer spends a token on nearly every letter.
    new.persona.text, new.persona.token_budget = "You are brief.", 500
    rig.settings.apply(new)
    rig.talk()
    rig.engine.recording.emit("/tmp/conversation.wav")
    with qtbot.waitSignal(memory.changed, timeout=20_000):
        rig.engine.turn.emit(TurnEnded(Turn("user", "Remember that " + FACT[0].lower() + FACT[1:],
                                            1.0, 3.5)))
    with qtbot.waitSignal(memory.changed, timeout=20_000):
        rig.app.controller.end_talk()  # the summary, then recall for the next one
    qtbot.waitUntil(lambda: "Orion launch" in rig.app.session.talk_request()["persona"]["text"],
                    timeout=20_000)
    rig.talk()
    assert "Orion launch" in rig.engine.calls[-1][1]["text"]  # the next conversation knows

    new = rig.settings.settings
    new.memory.enabled = False
    rig.settings.apply(new)
    assert "Orion" not in rig.app.session.talk_request()["persona"]["text"]


def test_a_turn_the_engine_sends_after_end_is_kept(qtbot, memory, tmp_path):
    rig = Rig(qtbot, memory)
    rig.talk()
    wav = str(tmp_path / "conversation.wav")
    rig.engine.recording.emit(wav)
    rig.app.controller.end_talk()
    # The engine closes the user's last turn after it was told to stop, then says the
    # recording is over (ScriptedEngine: on the next turn of the event loop).
    rig.engine.turn.emit(TurnEnded(Turn("user", "Remember that I prefer tea.", 1.0, 2.5)))
    qtbot.waitUntil(lambda: rig.engine.recording_path is None)
    found = []
    memory.searched.connect(lambda r, hits: found.append(hits))
    memory.search("tea")  # answered after the capture's completion (one thread, in order)
    qtbot.waitUntil(lambda: bool(found), timeout=20_000)
    found = found[0]
    assert {m.content for m in found} >= {"Remember that I prefer tea.", "I prefer tea"}


def test_an_unrecorded_conversation_is_remembered_and_ended(qtbot, memory, tmp_path, embedder):
    # Recordings off, or no room for one: the engine names the part with a key, no WAV.
    from arcus_desktop.memory.store import MemoryStore

    rig = Rig(qtbot, memory)
    rig.talk()
    rig.engine.unrecorded.emit("unrecorded-1")
    rig.engine.turn.emit(TurnEnded(Turn("user", "Remember that I prefer tea.", 1.0, 2.5)))
    rig.app.controller.end_talk()
    qtbot.waitUntil(lambda: rig.engine.recording_path is None)
    found = []
    memory.searched.connect(lambda r, hits: found.append(hits))
    memory.search("tea")  # answered after the capture's end (one thread, in order)
    qtbot.waitUntil(lambda: bool(found), timeout=20_000)
    assert {m.content for m in found[0]} >= {"Remember that I prefer tea.", "I prefer tea"}
    store = MemoryStore(tmp_path / "memory.db", embedder=embedder)
    try:
        [conv] = store.conversations()
        assert conv.recording_path is None and conv.ended_at is not None
    finally:
        store.close()


def test_a_conversation_left_open_is_completed_from_its_recording_at_start(qtbot, tmp_path,
                                                                         embedder):
    import json

    from arcus_desktop.memory.capture import ConversationCapture
    from arcus_desktop.memory.store import MemoryStore

    # The app quit (or crashed) mid-conversation: one turn stored, the recording finished.
    wav = tmp_path / "left.wav"
    store = MemoryStore(tmp_path / "memory.db", embedder=embedder)
    cap = ConversationCapture(store, recording_path=str(wav), started_at=1_000.0)
    cap.add_turn(Turn("user", "Hello.", 0.5, 1.0))
    store.close()
    wav.with_suffix(".json").write_text(json.dumps({
        "duration": 12.0, "recovered": False, "words": {"user": [], "assistant": []},
        "turns": [{"speaker": "user", "text": "Hello.", "start": 0.5, "end": 1.0},
                  {"speaker": "user", "text": "Remember that I prefer tea.", "start": 9.0,
                   "end": 11.0}]}))
    service = MemoryService(tmp_path / "memory.db", embedder=embedder)
    try:
        with qtbot.waitSignal(service.changed, timeout=20_000):
            Rig(qtbot, service)
        loaded = []
        service.conversation_loaded.connect(lambda rid, conv, ms: loaded.append((conv, ms)))
        service.conversation(cap.id)
        qtbot.waitUntil(lambda: bool(loaded), timeout=20_000)
        conv, memories = loaded[0]
        assert conv.ended_at - conv.started_at == 12.0
        assert [m.content for m in memories if m.kind == "episodic"] == [
            "Hello.", "Remember that I prefer tea."]
    finally:
        service.shutdown()


def test_a_conversation_ended_by_the_hotkey_shows_nobody_still_speaking(qtbot):
    """Ended by the hotkey (or the tray), not the window's End: the user's turn ends there
    too, before the engine has stopped (its last levels still come)."""
    rig = Rig(qtbot)
    rig.talk()
    window = rig.app.session.window
    qtbot.waitUntil(lambda: window.talking)
    for _ in range(20):  # the user talks (no speech-to-text: a turn without words)
        rig.engine.levels.emit(0.1, 0.0)
    assert [t.display_text for t in window.model.turns] == ["(speaking)"]
    rig.app.controller.toggle_talk()  # the hotkey's gesture
    assert window.talking  # the engine has not said it stopped yet
    for _ in range(5):
        rig.engine.levels.emit(0.1, 0.0)
    assert [t.display_text for t in window.model.turns] == ["(spoke, no transcript)"]
    qtbot.waitUntil(lambda: window.state == "ready")
    assert [t.display_text for t in window.model.turns] == ["(spoke, no transcript)"]


def test_memory_that_cannot_keep_a_conversation_says_so_in_the_window(qtbot, tmp_path, embedder):
    # A folder no one can create a file in (/proc), so the store never opens, as on a
    # data disk that is gone or read-only.
    memory = MemoryService("/proc/arcus-no-such-folder/memory.db", embedder=embedder)
    failures = []
    memory.failed.connect(lambda rid, text: failures.append(text))
    try:
        rig = Rig(qtbot, memory)
        rig.talk()
        rig.engine.recording.emit(str(tmp_path / "conversation.wav"))
        rig.engine.turn.emit(TurnEnded(Turn("user", "Remember that I prefer tea.", 1.0, 2.5)))
        rig.engine.turn.emit(TurnEnded(Turn("user", "And that I like rain.", 3.0, 4.5)))
        message = rig.app.session.window.status.message
        qtbot.waitUntil(lambda: len(failures) >= 3 and message.isVisible(), timeout=20_000)
        assert message.kind == "notice" and "Memory could not keep" in message.message.text()
        assert "Settings > Data" in message.hint.text() and failures[0] in message.hint.text()
        buttons = [b.text() for b in message.findChildren(QPushButton) if b.isVisible()]
        assert "Open Settings" in buttons
        with qtbot.waitSignal(rig.app.session.settings_requested):
            next(b for b in message.findChildren(QPushButton) if b.text() == "Open Settings").click()
    finally:
        memory.shutdown()


def test_engine_settings_changed_while_loading_apply_when_talk_is_ended_before_it_began(qtbot):
    rig = Rig(qtbot, auto=False)
    rig.app.controller.start_talk()
    rig.engine.state_changed.emit("loading", "")  # not ready yet: a model takes a while
    new = rig.settings.settings
    new.engine.mode = "int4"  # e.g. to fit the GPU
    rig.settings.apply(new)
    rig.app.controller.end_talk()  # the tray's End, before the model was ready
    assert len(rig.engines) == 2 and rig.configs[-1].quant_mode == "int4"
    assert "shutdown" in rig.engines[0].names()


def test_a_start_at_login_the_system_refuses_is_told_and_not_shown_as_on(qtbot, monkeypatch):
    # /sys refuses a new folder to anyone (root too), as a read-only config folder does.
    monkeypatch.setenv("XDG_CONFIG_HOME", "/sys/arcus-no-config")
    rig = Rig(qtbot)
    told = []
    rig.app.controller.notify.connect(lambda m, h, error: told.append((m, h, error)))
    new = rig.settings.settings
    new.data.start_at_login = True
    rig.settings.apply(new)
    [(message, hint, error)] = told
    assert message == "Some settings could not be saved." and error
    assert "/sys/arcus-no-config" in hint and "Settings" in hint
    assert rig.settings.settings.data.start_at_login is False  # as the system has it


def test_a_conversation_still_loading_can_be_cancelled_from_the_window(qtbot):
    rig = Rig(qtbot, auto=False)
    rig.app.controller.start_talk()
    rig.engine.state_changed.emit("loading", "")  # a model takes minutes on some disks
    window = rig.app.session.window
    assert window.end_button.isEnabled() and not window.talk_button.isEnabled()
    window.end_button.click()
    assert not rig.app.controller.want_talk and not window.end_button.isEnabled()
    rig.engine.state_changed.emit("ready", "")
    assert rig.app.controller.conversation is None  # nothing started after all
    assert "talk" not in rig.engine.names()


def test_a_damaged_settings_file_found_at_start_is_told(qtbot, tmp_path):
    # It was reset to its defaults (team sync off) with only a log line.
    sync_file = tmp_path / "data" / "sync.json"
    sync_file.parent.mkdir(parents=True)
    sync_file.write_text('{"url": "https://mine.supabase.co", "enabled": tr', encoding="utf-8")
    told = []
    rig = Rig(qtbot)
    rig.app.controller.notify.connect(lambda m, h, error: told.append((m, h)))
    qtbot.waitUntil(lambda: bool(told))
    [(message, hint)] = told
    assert "sync.json was damaged" in message and "defaults" in message
    assert "Settings" in hint and ".corrupt-" in hint
