"""The end of a live conversation reaches memory whole (issue 17): the app (controller,
session, memory service) with the real engine process (tiny model and tiny
speech-to-text on the CPU, real PulseAudio), compared with what the recording holds."""

from __future__ import annotations

import json
import os
import signal
import threading
from collections import Counter
from pathlib import Path

import pytest

from arcus_desktop.audio.files import read_mono
from arcus_desktop.audio.recording import recover
from arcus_desktop.bridge.engine_supervisor import EngineSupervisor
from arcus_desktop.bridge.memory_service import MemoryService
from arcus_desktop.bridge.settings_store import SettingsService
from arcus_desktop.core.turns import BACKCHANNEL_WORDS, TurnEnded, TurnStarted
from arcus_desktop.engine.host import HostConfig
from arcus_desktop.memory.store import MemoryStore
from arcus_desktop.settings.app_settings import DictStore
from arcus_desktop.ui.app import ArcusApp
from arcus_desktop.ui.memory_browser.text import offset_text

from ..conftest import AUDIO
from ..pulse import feed
from .test_engine_host import WAIT_MS


def no_hotkey(parent=None):
    from arcus_desktop.bridge.hotkey import HotkeyError

    raise HotkeyError("no hotkey in this test")


class LiveApp:
    """The app as it runs, with the engine process on the tiny models."""

    def __init__(self, qtbot, tiny_model, tiny_stt, memory) -> None:
        self.engines: list[EngineSupervisor] = []
        self.turns: list[tuple[int, TurnEnded]] = []  # (ends asked for so far, event)
        self.open: set[str] = set()  # the speakers whose turn has started and not ended
        self.recordings: list[str] = []
        self.stats = 0
        self.user_pieces = 0
        self.failed: list[str] = []
        self.ends = 0
        self.config = HostConfig(model_dir=str(tiny_model), stt_dir=str(tiny_stt), device="cpu")
        self.app = ArcusApp(engine_factory=self._engine, hotkey_backend=no_hotkey, tray=False,
                            settings=SettingsService(DictStore()), memory=memory)
        qtbot.addWidget(self.app.window)
        qtbot.addWidget(self.app.session.window)
        self.controller = self.app.controller

    def _engine(self) -> EngineSupervisor:
        engine = EngineSupervisor(self.config)
        engine.turn.connect(self._turn)
        engine.recording.connect(self.recordings.append)
        engine.stats.connect(lambda _: setattr(self, "stats", self.stats + 1))
        engine.user_text.connect(lambda *_: setattr(self, "user_pieces", self.user_pieces + 1))
        engine.failed.connect(lambda message, _: self.failed.append(message))
        self.engines.append(engine)
        return engine

    def _turn(self, event) -> None:
        if isinstance(event, TurnStarted):
            self.open.add(event.speaker)
        elif isinstance(event, TurnEnded):
            self.open.discard(event.turn.speaker)
            self.turns.append((self.ends, event))

    def mid_turn(self, seconds: float) -> bool:
        """This many seconds of conversation, the user's words heard by the speech-to-text
        model, and a turn going on (or the engine failed: the test says why)."""
        return bool(self.failed) or (self.stats * 2 >= seconds and self.user_pieces > 0
                                     and bool(self.open))

    def end(self) -> None:
        self.ends += 1
        self.controller.end_talk()

    def close(self) -> None:
        self.controller.shutdown()


@pytest.fixture
def speaking(pulse):
    """The user talking into the microphone, in real time (5-9 s of the recording, looped:
    speech with pauses)."""
    speech = read_mono(AUDIO / "input_service.wav", 24_000)[4 * 24_000:10 * 24_000]
    stop = threading.Event()
    feeder = feed(pulse, speech, stop, loop=True, realtime=True)
    yield
    stop.set()
    feeder.join(10)


@pytest.fixture
def memory(qtbot, tmp_path, embedder):
    service = MemoryService(tmp_path / "memory.db", embedder=embedder)
    yield service
    service.shutdown()


@pytest.fixture
def live(qtbot, speaking, tiny_model, tiny_stt, memory):
    rig = LiveApp(qtbot, tiny_model, tiny_stt, memory)
    yield rig
    rig.close()


def words(text: str) -> list[str]:
    # Backchannels ("mm-hmm") live inside the other side's turn, not as memories.
    return [w for w in text.split() if w.lower().strip(".,!?'-") not in BACKCHANNEL_WORDS]


def recorded(wav: str) -> dict:
    """A recording's transcript."""
    return json.loads(Path(wav).with_suffix(".json").read_text())


def remembered(store: MemoryStore, wav: str):
    """The memory conversation of a recording and its turns, in order."""
    [conv] = [c for c in store.conversations() if c.recording_path == wav]
    return conv, [m for m in store.conversation_memories(conv.id) if m.kind == "episodic"]


def assert_holds(turns, data: dict) -> None:
    """Every turn the recording holds is in memory, and every word, in order (letters:
    a piece that goes on a word may come after its turn closed, in the next turn)."""
    said = Counter((t["speaker"], " ".join(t["text"].split())) for t in data["turns"]
                   if t["text"].strip())
    assert said - Counter((m.speaker, m.content) for m in turns) == Counter()
    for side, ws in data["words"].items():
        kept = iter("".join(m.content.split()) for m in turns if m.speaker == side)
        kept = iter("".join(kept))
        for w in words(" ".join(x["text"] for x in ws)):
            assert all(c in kept for c in w), f"{side} said {w!r}: recorded, not remembered"


def completed(store: MemoryStore, wav: str) -> bool:
    """The recording is finished and its memory conversation has ended."""
    convs = [c for c in store.conversations() if c.recording_path == wav]
    return Path(wav).with_suffix(".json").is_file() and bool(convs) and \
        convs[0].ended_at is not None


def test_the_last_turns_after_end_reach_memory_with_the_real_duration(qtbot, live, memory,
                                                                     tmp_path, embedder):
    live.controller.start_talk()
    # End in the middle of a turn: its end comes after End, as the issue describes.
    qtbot.waitUntil(lambda: live.mid_turn(4), timeout=WAIT_MS)
    assert live.failed == []
    live.end()
    store = MemoryStore(tmp_path / "memory.db", embedder=embedder)
    try:
        [wav] = live.recordings
        qtbot.waitUntil(lambda: live.controller.state == "ready" and completed(store, wav),
                        timeout=WAIT_MS)
        late = [e.turn for ends, e in live.turns if ends == 1]
        assert late, "the engine closes its open turns after End"
        data = recorded(wav)
        conv, turns = remembered(store, wav)
        assert_holds(turns, data)
        # Each turn once: completion from the recording adds nothing already stored.
        assert len({(m.speaker, m.audio_offset, m.content) for m in turns}) == len(turns)
        assert data["duration"] >= 4.0
        assert conv.ended_at - conv.started_at == pytest.approx(data["duration"], abs=0.01)
        assert offset_text(conv.ended_at - conv.started_at) == offset_text(data["duration"])
    finally:
        store.close()


def test_after_an_engine_kill_memory_holds_what_both_recordings_hold(qtbot, live, memory,
                                                                    tmp_path, embedder):
    live.controller.start_talk()
    # Killed in the middle of a turn: the turn never ends, its words are in the journal.
    qtbot.waitUntil(lambda: live.mid_turn(4), timeout=WAIT_MS)
    assert live.failed == []
    engine = live.engines[-1]
    first = engine.process.pid
    os.kill(first, signal.SIGKILL)
    qtbot.waitUntil(lambda: len(live.recordings) >= 2 and engine.process.pid != first,
                    timeout=WAIT_MS)
    # The new engine resumes with a new recording; End comes as soon as it has (how a
    # restarted engine copes with CPU load is a separate issue, not this test's).
    live.end()
    store = MemoryStore(tmp_path / "memory.db", embedder=embedder)
    try:
        killed, last = live.recordings[0], live.recordings[-1]
        qtbot.waitUntil(lambda: live.controller.state in ("ready", "error")
                        and completed(store, last), timeout=WAIT_MS)
        # The killed part's memory ends without waiting for the journal to go stale.
        qtbot.waitUntil(lambda: any(c.recording_path == killed and c.ended_at
                                    for c in store.conversations()), timeout=WAIT_MS)
        recover(Path(killed).parent, stale_s=0)  # its transcript, from the journal
        for wav in (killed, last):
            data = recorded(wav)
            conv, turns = remembered(store, wav)
            assert turns or wav == last, wav
            assert_holds(turns, data)
            assert conv.ended_at - conv.started_at == pytest.approx(data["duration"], abs=0.2)
    finally:
        store.close()


def test_with_recordings_off_every_turn_still_reaches_memory(qtbot, speaking, tiny_model,
                                                             tiny_stt, memory, tmp_path,
                                                             embedder):
    live = LiveApp(qtbot, tiny_model, tiny_stt, memory)
    settings = live.app.session.settings
    new = settings.settings
    new.data.keep_recordings = False  # Settings > Data; the engine process reads it
    settings.apply(new)
    store = MemoryStore(tmp_path / "memory.db", embedder=embedder)
    try:
        live.controller.start_talk()
        qtbot.waitUntil(lambda: live.mid_turn(4), timeout=WAIT_MS)
        assert live.failed == []
        live.end()
        qtbot.waitUntil(lambda: live.controller.state == "ready" and any(
            c.ended_at for c in store.conversations()), timeout=WAIT_MS)
        assert live.recordings == []  # nothing was recorded...
        [conv] = store.conversations()
        assert conv.recording_path is None
        kept = Counter((m.speaker, m.content) for m in store.conversation_memories(conv.id)
                       if m.kind == "episodic")
        said = Counter((e.turn.speaker, " ".join(e.turn.text.split())) for _, e in live.turns
                       if e.turn.text.strip())
        assert said and said - kept == Counter()  # ...and every turn is remembered
    finally:
        store.close()
        live.close()
