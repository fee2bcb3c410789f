"""Saving each conversation: a stereo WAV (left assistant, right user) and a transcript
JSON, written as it goes, recoverable after a crash, pruned by age and size, and never
an exception into the frame loop."""

import errno
import json
import os
import subprocess
import sys
import textwrap
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from arcus_desktop.audio import retention
from arcus_desktop.audio.recording import ConversationRecorder, recover
from arcus_desktop.audio.wav_stream import WavStream
from arcus_desktop.core import paths
from arcus_desktop.core.errors import AudioFileError, DiskFullError
from arcus_desktop.core.turns import Turn, TurnEnded, TurnTracker
from arcus_desktop.settings import recording as recording_settings
from arcus_desktop.settings.recording import RecordingSettings

from .. import speech

FRAME = 1920
ROOT = Path(__file__).resolve().parents[2]


def _read(path: Path) -> tuple[wave._wave_params, np.ndarray]:
    with wave.open(str(path), "rb") as w:
        return w.getparams(), np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, 2)


def _int16(pcm):
    return (np.clip(pcm, -1, 1) * 32767).astype(np.int16)


def test_stereo_wav_and_transcript():
    """The assistant on the left, the user on the right; words, turns and persona in the
    JSON next to it, turns as the tracker made them."""
    user = speech.track(12, [("service", 1.0)])
    played = speech.track(12, [("question", 5.0)])
    tracker = TurnTracker()
    rec = ConversationRecorder(persona="Arcus", started_at=1_700_000_000.0)
    assert rec.wav_path.parent == paths.data_dir() / "recordings"
    pieces = speech.pieces_at(5.2, "\u2581Hello", ",", "\u2581how")
    user_pieces = speech.pieces_at(1.1, "\u2581My", "\u2581bill")
    for k in range(user.size // FRAME):
        s = slice(k * FRAME, (k + 1) * FRAME)
        rec.write(played[s], user[s], pieces.get(k), user_pieces.get(k))
        for e in tracker.push(user[s], played[s], pieces.get(k), user_pieces.get(k)):
            if isinstance(e, TurnEnded):
                rec.add_turn(e.turn)
    for e in tracker.finish():
        rec.add_turn(e.turn)
    out = rec.finish()
    assert out == rec.wav_path.with_suffix(".json")
    assert not rec.wav_path.with_suffix(".journal").exists()

    params, pcm = _read(rec.wav_path)
    assert (params.nchannels, params.sampwidth, params.framerate) == (2, 2, 24_000)
    n = user.size // FRAME * FRAME
    assert np.array_equal(pcm[:, 0], _int16(played[:n]))
    assert np.array_equal(pcm[:, 1], _int16(user[:n]))

    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["persona"] == "Arcus" and data["started_at"] == 1_700_000_000.0
    assert data["duration"] == pytest.approx(n / 24_000) == data["audio_seconds"]
    assert data["channels"] == ["assistant", "user"] and data["audio"] == rec.wav_path.name
    assert [w["text"] for w in data["words"]["assistant"]] == ["Hello,", "how"]
    assert [w["text"] for w in data["words"]["user"]] == ["My", "bill"]
    assert data["words"]["user"][0]["start"] == pytest.approx(1.12)
    assert [(t["speaker"], t["text"]) for t in data["turns"]] == [("user", "My bill"),
                                                                  ("assistant", "Hello, how")]
    assert data["recovered"] is False and data["stopped"] is None


def test_a_crashed_conversation_plays_and_is_recovered():
    """A real crash: a child process records 5.6 s and kills itself (SIGKILL: no Python
    clean-up, buffers lost). Its WAV already plays up to the last second; on the next
    start its journal becomes the transcript and the WAV holds everything written."""
    folder = paths.data_dir() / "recordings"
    child = textwrap.dedent(f"""
        import os, signal, numpy as np
        from arcus_desktop.audio.recording import ConversationRecorder
        from arcus_desktop.core.turns import Turn
        rec = ConversationRecorder(persona="Crashy", started_at=1_700_000_000.0)
        t = np.arange(1920, dtype=np.float32) / 24000
        for k in range(70):
            rec.write(0.5 * np.sin(2 * np.pi * 440 * t), 0.25 * np.sin(2 * np.pi * 1000 * t),
                      "\\u2581word" if k in (10, 11, 40) else None)
            if k == 30:
                rec.add_turn(Turn("assistant", "word word", 0.8, 0.96))
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", child], env=env, capture_output=True)
    assert done.returncode == -9, done.stderr.decode()
    (wav,) = folder.glob("*.wav")
    assert wav.with_suffix(".journal").exists() and not wav.with_suffix(".json").exists()

    params, pcm = _read(wav)  # before any repair: the header as the crash left it
    assert 5.6 - 1.0 - 0.08 <= params.nframes / 24_000 <= 5.6

    (out,) = recover(folder, stale_s=0)
    params, pcm = _read(wav)
    assert params.nframes == 70 * FRAME  # every frame reached the OS before the kill
    t = np.arange(FRAME, dtype=np.float32) / 24_000
    assert np.array_equal(pcm[:, 0], np.tile(_int16(0.5 * np.sin(2 * np.pi * 440 * t)), 70))
    assert np.array_equal(pcm[:, 1], np.tile(_int16(0.25 * np.sin(2 * np.pi * 1000 * t)), 70))
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["recovered"] is True and data["persona"] == "Crashy"
    assert data["started_at"] == 1_700_000_000.0
    assert [w["text"] for w in data["words"]["assistant"]] == ["word", "word", "word"]
    assert data["turns"] == [{"speaker": "assistant", "text": "word word", "start": 0.8,
                              "end": 0.96, "interrupted": False, "backchannels": []}]
    assert data["duration"] == pytest.approx(5.6)
    assert not wav.with_suffix(".journal").exists()


def test_an_abandoned_recorder_is_recovered_by_the_next_one():
    """In one process: a recorder dropped without finish (a torn last journal line too),
    then the next conversation's recorder recovers it as it opens."""
    first = ConversationRecorder(persona="A", started_at=time.time() - 60)
    for k in range(30):
        first.write(np.full(FRAME, 0.1, np.float32), np.zeros(FRAME, np.float32),
                    "\u2581hi" if k == 3 else None)
    first._sync()
    with open(first.wav_path.with_suffix(".journal"), "a", encoding="utf-8") as f:
        f.write('{"event": "piece", "speak')  # cut off mid-line
    stem = first.stem
    retention.active.discard(stem)  # its process is gone
    old = time.time() - 3600
    for p in (first.wav_path, first.wav_path.with_suffix(".journal")):
        os.utime(p, (old, old))

    second = ConversationRecorder(persona="B")
    data = json.loads(first.wav_path.with_suffix(".json").read_text(encoding="utf-8"))
    assert data["recovered"] and [w["text"] for w in data["words"]["assistant"]] == ["hi"]
    assert data["audio_seconds"] >= 30 * 0.08 - 1.0
    second.finish()


def test_a_damaged_journal_is_recovered_with_what_it_holds_whole(tmp_path):
    """Lines that are JSON but not what the recorder writes (a disk's damage) are skipped:
    before, one of them raised out of every start and the journal stayed."""
    journal = tmp_path / "20240101-000000-abcdef.journal"
    good_turn = {"speaker": "user", "text": "hi", "start": 0.5, "end": 1.0,
                 "interrupted": False, "backchannels": []}
    lines = ['{"event": "start", "started_at": 1700000000, "persona": "P"}', "null", "[1, 2]",
             '{"event": "piece", "speaker": "user", "piece": "x"}',
             '{"event": "piece", "speaker": "user", "piece": "x", "time": "1.0"}',
             '{"event": "piece", "speaker": "user", "piece": 7, "time": 1.0}',
             '{"event": "piece", "speaker": "user", "piece": "\u2581hi", "time": 0.5}',
             '{"event": "turn", "turn": []}',
             '{"event": "turn", "turn": {"speaker": "user", "text": "x", "start": 0, '
             '"end": Infinity}}',
             '{"event": "turn", "turn": {"speaker": "user", "text": "x", "start": 0, "end": 1, '
             '"backchannels": [{"speaker": "assistant"}]}}',
             json.dumps({"event": "turn", "turn": good_turn})]
    journal.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert recover(tmp_path, stale_s=0) == [journal.with_suffix(".json")]
    data = json.loads(journal.with_suffix(".json").read_text(encoding="utf-8"))
    assert data["turns"] == [good_turn] and data["started_at"] == 1700000000
    assert [w["text"] for w in data["words"]["user"]] == ["hi"]
    assert not journal.exists()


def test_recovery_leaves_recordings_in_progress_alone():
    live = ConversationRecorder(started_at=1_700_000_000.0)
    live.write(np.zeros(FRAME, np.float32), np.zeros(FRAME, np.float32))
    # Another process's recording, its journal written a moment ago.
    other = live.directory / "20240101-000000-abcdef.journal"
    other.write_text('{"event": "start"}\n', encoding="utf-8")
    assert recover(live.directory) == []
    assert other.exists() and live.wav_path.with_suffix(".journal").exists()
    assert recover(live.directory, stale_s=0) == [other.with_suffix(".json")]  # once stale
    live.finish()


def _fake(folder: Path, when: str, size: int, journal: bool = False) -> str:
    stem = f"{when}-{os.urandom(3).hex()}"
    (folder / f"{stem}.wav").write_bytes(b"\0" * size)
    (folder / f"{stem}.json" if not journal else folder / f"{stem}.journal").write_text("{}")
    return stem


def test_retention_by_age_and_size_never_touches_one_in_progress(tmp_path):
    folder = tmp_path / "recordings"
    folder.mkdir()
    now = 1_700_000_000.0  # 2023-11-14
    ancient = _fake(folder, "20230101-120000", 100)
    old_live = _fake(folder, "20230102-120000", 100, journal=True)  # unfinished: kept
    a = _fake(folder, "20231110-120000", 4000)
    b = _fake(folder, "20231112-120000", 4000)
    c = _fake(folder, "20231113-120000", 4000)
    (folder / "notes.txt").write_text("not ours")
    gone = retention.prune(keep_days=30, keep_gb=9000 / 1e9, directory=folder, now=now)
    assert gone == [ancient, a]  # too old; then the oldest until under 9000 bytes
    left = {p.stem for p in folder.iterdir()}
    assert left == {old_live, b, c, "notes"}
    assert retention.prune(0, 0, folder, now) == []  # no limits: nothing goes


def test_a_new_recorder_prunes_with_the_saved_settings():
    recording_settings.save(RecordingSettings(keep_days=1, keep_gb=0))
    folder = paths.data_dir() / "recordings"
    folder.mkdir(parents=True)
    stale = _fake(folder, "20200101-000000", 10)
    rec = ConversationRecorder()
    assert not list(folder.glob(f"{stale}.*")) and rec.recording
    rec.finish()


def test_a_full_disk_stops_the_recording_not_the_conversation(monkeypatch):
    """Simulated: no small filesystem can be mounted here, so the WAV's write raises
    ENOSPC (errno 28) from the 21st frame on, as a full disk would."""
    real = WavStream.append
    calls = {"n": 0}

    def full_after_20(self, frames):
        calls["n"] += 1
        if calls["n"] > 20:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(self, frames)

    monkeypatch.setattr(WavStream, "append", full_after_20)
    rec = ConversationRecorder()
    tone = np.full(FRAME, 0.2, np.float32)
    for k in range(60):  # goes on quietly after the failure
        rec.write(tone, tone, "\u2581ok" if k == 50 else None)
    err = rec.take_error()
    assert isinstance(err, DiskFullError) and "disk is full" in err.message
    assert "0:01" in err.message and "goes on" in err.hint
    assert rec.take_error() is None and not rec.recording  # told once
    out = rec.finish()
    params, _ = _read(rec.wav_path)
    assert params.nframes == 20 * FRAME  # everything before the failure, playable
    data = json.loads(out.read_text(encoding="utf-8"))
    assert "disk is full" in data["stopped"]
    assert [w["text"] for w in data["words"]["assistant"]] == ["ok"]  # words kept after it


def test_a_folder_that_cannot_be_written(tmp_path):
    """A file where the folder should be (tests run as root, so permissions would not
    stop a write)."""
    blocker = tmp_path / "recordings"
    blocker.write_text("in the way")
    rec = ConversationRecorder(directory=blocker / "inside")
    assert not rec.recording and rec.wav_path is None
    err = rec.take_error()
    assert isinstance(err, AudioFileError) and "could not be saved" in err.message
    rec.write(np.zeros(FRAME, np.float32), np.zeros(FRAME, np.float32), "\u2581hi")
    rec.add_turn(Turn("user", "", 0.0, 1.0))
    assert rec.finish() is None


def test_recording_off():
    recording_settings.save(RecordingSettings(enabled=False))
    rec = ConversationRecorder()
    rec.write(np.zeros(FRAME, np.float32), np.zeros(FRAME, np.float32))
    assert rec.finish() is None and rec.take_error() is None
    assert not (paths.data_dir() / "recordings").exists()


def test_settings_persist():
    assert recording_settings.load() == RecordingSettings(enabled=True, keep_days=30, keep_gb=5)
    recording_settings.save(RecordingSettings(enabled=False, keep_days=7, keep_gb=0.5))
    assert recording_settings.load() == RecordingSettings(False, 7, 0.5)
    path = paths.data_dir() / "recording.json"
    path.write_text('{"keep_days": 3, "from_a_newer_version": 1}')
    assert recording_settings.load() == RecordingSettings(keep_days=3)
    path.write_text("{not json")
    assert recording_settings.load() == RecordingSettings()


def test_the_header_is_patched_about_once_a_second_not_every_frame(monkeypatch):
    """What a frame costs: a conversion and a buffered write; the flush and header
    patch come once a second (12.5 frames)."""
    syncs = []
    real = WavStream.sync
    monkeypatch.setattr(WavStream, "sync", lambda self: (syncs.append(1), real(self)))
    rec = ConversationRecorder()
    for _ in range(125):  # 10 s
        rec.write(np.zeros(FRAME, np.float32), np.zeros(FRAME, np.float32))
    assert 9 <= len(syncs) <= 10
    rec.finish()


def test_memory_points_at_the_recording_and_may_delete_it():
    """ConversationCapture takes the WAV as its recording; the store deletes recordings
    only inside the data folder, which this is."""
    from arcus_desktop.memory.capture import ConversationCapture
    from arcus_desktop.memory.store import MemoryStore

    rec = ConversationRecorder()
    rec.write(np.zeros(FRAME, np.float32), np.zeros(FRAME, np.float32))
    rec.finish()
    store = MemoryStore(embedder=None)
    try:
        cap = ConversationCapture(store, recording_path=str(rec.wav_path))
        cap.add_turn(Turn("user", "My bill is wrong.", 0.0, 0.08))
        cap.finish()
        store.forget_conversation(cap.id, delete_recording=True)
        assert not rec.wav_path.exists()
    finally:
        store.close()
