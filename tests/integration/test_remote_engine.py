"""The remote engine as the app uses it: RemoteSupervisor's process (remote/host.py) with
real PortAudio streams through a real PulseAudio daemon (tests/pulse.py), talking over
loopback to the stand-in team server (tests/remote_stand_in.py: written from the
documented protocol, no model; its "assistant" echoes the user's audio and says a
scripted piece every few frames)."""

from __future__ import annotations

import json
import subprocess
import threading
import wave
from pathlib import Path

import numpy as np
import pytest

from arcus_desktop.audio.files import read_mono
from arcus_desktop.bridge.remote_supervisor import RemoteSupervisor
from arcus_desktop.core.turns import TurnEnded
from arcus_desktop.remote.client import ClientSettings
from arcus_desktop.remote.host import RemoteConfig
from arcus_desktop.settings import secrets

from ..conftest import AUDIO
from ..pulse import feed
from ..remote_stand_in import StandIn
from .test_engine_host import Watch
from .test_remote_client import free_port

WAIT_MS = 60_000
FAST = ClientSettings(reconnect_waits_s=(0.0, 0.1, 0.2, 0.5), connect_timeout_s=5.0)


@pytest.fixture
def speaking(pulse):
    # The recording's speech is 5-9 s of its 20 s: loop that part, with a pause after it.
    speech = read_mono(AUDIO / "input_service.wav", 24_000)[4 * 24_000:10 * 24_000]
    stop = threading.Event()
    feeder = feed(pulse, speech, stop, loop=True, realtime=True)
    yield speech
    stop.set()
    feeder.join(10)


def heard_words(seen: Watch) -> str:
    return "".join(p for p, _ in seen.pieces).replace("\u2581", " ")


def test_a_conversation_through_a_team_server(qtbot, speaking, os_keyring):
    secrets.set_secret("server_token", "team-s3cret", "the team server token")
    monitor = subprocess.Popen(["parec", "-d", "spk.monitor", "--format=s16le", "--rate=24000",
                                "--channels=1", "--latency-msec=20"], stdout=subprocess.PIPE)
    with StandIn(token="team-s3cret") as server:
        # No token in the config: the engine process reads it from the keyring.
        supervisor = RemoteSupervisor(RemoteConfig(server_url=server.url, client=FAST))
        seen = Watch(supervisor)
        try:
            qtbot.waitUntil(lambda: seen.count("ready") == 1, timeout=WAIT_MS)
            conversation = supervisor.talk({"text": "You are a calm helper.", "voice": "NATM1"},
                                           persona_name="Calm")
            # The whole first sentence, and the turn it makes: its last piece can come
            # after the turn's end on a busy machine.
            qtbot.waitUntil(lambda: len(seen.stats) >= 3 and any(
                isinstance(e, TurnEnded) and e.turn.speaker == "assistant" for e in seen.turns)
                and "Hello there, my friend." in heard_words(seen), timeout=WAIT_MS)
            assert ("talking", conversation) in seen.states
            supervisor.stop_talking()
            qtbot.waitUntil(lambda: seen.states[-1][0] == "ready", timeout=WAIT_MS)
        finally:
            code = supervisor.shutdown()
    monitor.terminate()
    played = np.frombuffer(monitor.communicate(timeout=10)[0], "<i2").astype(np.float32) / 32768
    assert code == 0 and seen.failed == [] and seen.restarts == []
    assert server.headers[0]["Authorization"] == "Bearer team-s3cret"
    assert server.queries[0]["text_prompt"] == "You are a calm helper."
    # The loading bar said what it was waiting for.
    assert any("Connecting to the team server" in what for _, what in seen.loading)
    # The assistant's words arrived in order, timed on the conversation's clock.
    assert heard_words(seen).startswith(" Hello there, my friend.")
    times = [t for _, t in seen.pieces]
    assert times == sorted(times) and times[0] > 0
    # Its voice (the user's, echoed by the stand-in) reached the speaker.
    assert max(a for _, a in seen.levels) > 0.01
    assert float(np.sqrt(np.mean(played ** 2))) > 0.005
    # Both sides' turns, from the local turn tracker.
    ended = [e.turn for e in seen.turns if isinstance(e, TurnEnded)]
    assert {"user", "assistant"} <= {t.speaker for t in ended}
    # The round trip is in the statistics: on loopback, mostly the frames in hand (two,
    # fewer for a moment after the buffer trims; audio callbacks that come bunched
    # shorten a few trips further), never the seconds a stall would show.
    latency = [s.latency_ms for s in seen.stats]
    assert all(ms is not None and 40 < ms < 500 for ms in latency), latency
    # The frame time is the server's, once its first stats event came (after 2 s).
    assert all(s.compute_ms_p50 == 3.0 for s in seen.stats[1:])
    # The conversation was recorded here, the assistant's words with it.
    wav = Path(seen.recordings[0])
    with wave.open(str(wav)) as w:
        assert w.getnchannels() == 2 and w.getnframes() > 2 * 24_000
    transcript = json.loads(wav.with_suffix(".json").read_text())
    assert transcript["persona"] == "Calm"
    assert [w["text"] for w in transcript["words"]["assistant"]][:3] == ["Hello", "there,", "my"]


def test_a_dropped_connection_mid_conversation_is_mended_under_the_same_id(qtbot, speaking):
    with StandIn() as server:
        supervisor = RemoteSupervisor(RemoteConfig(server_url=server.url, token="",
                                                   client=FAST))
        seen = Watch(supervisor)
        try:
            qtbot.waitUntil(lambda: seen.count("ready") == 1, timeout=WAIT_MS)
            conversation = supervisor.talk({"text": "You are a calm helper."})
            qtbot.waitUntil(lambda: len(seen.pieces) >= 3, timeout=WAIT_MS)
            server.drop_all()
            qtbot.waitUntil(lambda: any("Reconnected" in m for m, _ in seen.notices),
                            timeout=WAIT_MS)
            before = len(seen.pieces)
            qtbot.waitUntil(lambda: len(seen.pieces) >= before + 3, timeout=WAIT_MS)
            supervisor.stop_talking()
            qtbot.waitUntil(lambda: seen.states[-1][0] == "ready", timeout=WAIT_MS)
        finally:
            code = supervisor.shutdown()
    assert code == 0
    assert len(server.queries) == 2
    notices = [m for m, _ in seen.notices]
    assert any(m.startswith("The connection to the team server dropped") for m in notices)
    # The same conversation all along: one "talking", one recording, no restart.
    assert [s for s in seen.states if s[0] == "talking"] == [("talking", conversation)]
    assert len(seen.recordings) == 1 and seen.restarts == [] and seen.failed == []
    times = [t for _, t in seen.pieces]
    assert times == sorted(times)  # the clock went on through the drop


@pytest.mark.parametrize("case", ["unreachable", "wrong token", "full"])
def test_a_server_that_cannot_be_used_fails_with_a_way_forward(qtbot, case):
    with StandIn(token="s3cret", max_sessions=0 if case == "full" else 4) as server:
        url = f"http://127.0.0.1:{free_port()}" if case == "unreachable" else server.url
        token = "guess" if case == "wrong token" else "s3cret"
        supervisor = RemoteSupervisor(RemoteConfig(server_url=url, token=token, client=FAST))
        seen = Watch(supervisor)
        try:
            qtbot.waitUntil(lambda: seen.count("ready") == 1, timeout=WAIT_MS)
            supervisor.talk({"text": "Hi"})
            qtbot.waitUntil(lambda: bool(seen.failed) and seen.count("ready") == 2,
                            timeout=WAIT_MS)
            assert supervisor.process.is_alive()  # ready for the next conversation
        finally:
            code = supervisor.shutdown(timeout_s=5)
    assert code == 0
    assert seen.restarts == [] and seen.count("talking") == 0  # told, not retried
    (message, hint), = seen.failed
    assert {"unreachable": "Nothing answers at 127.0.0.1:",
            "wrong token": "refused the token (HTTP 401)",
            "full": "All 0 conversation slots are in use"}[case] in message
    assert {"unreachable": "Settings > Engine", "wrong token": "Settings > Engine",
            "full": "Try again in a few minutes"}[case] in hint


def test_stopping_while_the_server_prepares_the_persona(qtbot):
    with StandIn(hold_handshake=True) as server:
        supervisor = RemoteSupervisor(RemoteConfig(server_url=server.url, token="",
                                                   client=FAST))
        seen = Watch(supervisor)
        try:
            qtbot.waitUntil(lambda: seen.count("ready") == 1, timeout=WAIT_MS)
            supervisor.talk({"text": "Hi"})
            qtbot.waitUntil(lambda: server.sessions == 1, timeout=WAIT_MS)
            supervisor.stop_talking()
            qtbot.waitUntil(lambda: seen.count("ready") == 2, timeout=WAIT_MS)
            server.release()
            qtbot.waitUntil(lambda: server.sessions == 0, timeout=WAIT_MS)
        finally:
            code = supervisor.shutdown()
    assert code == 0 and seen.count("talking") == 0 and seen.failed == []
    assert any("preparing the persona" in what for _, what in seen.loading)
