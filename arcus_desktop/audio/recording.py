"""Each conversation saved as it happens, in the data folder's recordings/: a stereo WAV
(left the assistant, right the user, 24 kHz, 16-bit) and a transcript JSON (both sides'
timed words, the turns, persona, start time, duration).

Crash-safe: the WAV's header is patched every second, and every text piece and turn is
appended to a journal (<stem>.journal, JSON lines) that `finish` compacts into
<stem>.json. A journal left behind by a crash is an unfinished conversation: `recover`
(run when the next recorder opens) mends its WAV and writes its JSON from the journal.

Nothing here raises into the frame loop: a full disk or an unwritable folder stops the
recording, keeps the reason for the app to show (`take_error`), and the conversation
goes on."""

from __future__ import annotations

import errno
import json
import os
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..core.errors import ArcusError, AudioFileError, DiskFullError
from ..core.transcript import Word, Words, add_piece
from ..core.turns import ASSISTANT, USER, Turn
from ..settings import recording as recording_settings
from . import retention
from .wav_stream import HEADER, WavStream, repair, to_int16

RATE = 24_000
FRAME_S = 0.08
CHANNELS = (ASSISTANT, USER)  # left, right
SYNC_EVERY_S = 1.0  # a crash loses at most this much audio
MIN_FREE_BYTES = 200 * 2**20  # do not start a recording with less room than this
STALE_S = 10.0  # a journal untouched this long belongs to no running recorder
_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


class ConversationRecorder:
    """Open at the conversation's first frame; `write` every frame, `add_turn` for each
    ended turn, `finish` at the end. `wav_path` is what memory's ConversationCapture
    takes as `recording_path` (turn times are offsets into it)."""

    def __init__(self, persona: str = "", started_at: float | None = None,
                 settings: recording_settings.RecordingSettings | None = None,
                 directory: Path | None = None) -> None:
        self.settings = settings or recording_settings.load()
        self.directory = Path(directory) if directory else retention.folder()
        self.persona = persona
        self.started_at = time.time() if started_at is None else started_at
        self.stem = retention.new_stem(self.started_at)
        self.wav_path: Path | None = None
        self.json_path: Path | None = None
        self.words: dict[str, list[Word]] = {USER: Words(), ASSISTANT: Words()}
        self.turns: list[Turn] = []
        self.frames = 0
        self.error: ArcusError | None = None
        self._told = False
        self._wav: WavStream | None = None
        self._journal = None
        self._synced = 0
        self.finished = False
        if self.settings.enabled:
            self._open()

    @property
    def recording(self) -> bool:
        return self._wav is not None

    # --- the frame loop -----------------------------------------------------------------

    def write(self, assistant: np.ndarray, user: np.ndarray, assistant_piece: str | None = None,
              user_piece: str | None = None, user_piece_time: float | None = None) -> None:
        """One frame: what the assistant played and what the microphone heard (echo
        cancelled), same length, float in [-1, 1]; each side's text piece, if any."""
        now = self.frames * FRAME_S
        self.frames += 1
        if assistant_piece:
            self._piece(ASSISTANT, assistant_piece, now)
        if user_piece:
            self._piece(USER, user_piece, now if user_piece_time is None else user_piece_time)
        if self._wav is None:
            return
        try:
            stereo = np.empty((len(assistant), 2), np.int16)
            stereo[:, 0] = to_int16(assistant)
            stereo[:, 1] = to_int16(user)
            self._wav.append(stereo)
            if self._wav.data_bytes - self._synced >= SYNC_EVERY_S * RATE * 4:
                self._sync()
        except OSError as e:
            self._stop(e)

    def add_turn(self, turn: Turn) -> None:
        self.turns.append(turn)
        self._log({"event": "turn", "turn": asdict(turn)}, flush=True)

    def take_error(self) -> ArcusError | None:
        """Why recording stopped, once (so the app says it once)."""
        if self.error is None or self._told:
            return None
        self._told = True
        return self.error

    # --- the end ------------------------------------------------------------------------

    def finish(self) -> Path | None:
        """Close the WAV, write the transcript JSON, drop the journal. Returns the JSON's
        path, or None when nothing was recorded or it could not be written."""
        if self.finished:
            return self.json_path
        self.finished = True
        retention.active.discard(self.stem)
        if self.wav_path is None:
            return None
        if self._wav is not None:
            try:
                self._wav.close(durable=True)
            except OSError as e:
                self._stop(e)
            self._wav = None
        self._close_journal()
        try:
            audio_s = repair(self.wav_path, RATE, 2)
            data = transcript(self.persona, self.started_at, self.frames * FRAME_S, audio_s,
                              self.wav_path.name, self.words, [asdict(t) for t in self.turns],
                              stopped=self.error.user_text() if self.error else None)
            _write_json(self.directory / f"{self.stem}.json", data)
            (self.directory / f"{self.stem}.journal").unlink(missing_ok=True)
        except OSError as e:  # the journal stays: the next start recovers it
            self._stop(e)
            return None
        self.json_path = self.directory / f"{self.stem}.json"
        return self.json_path

    # --- inside -------------------------------------------------------------------------

    def _open(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            recover(self.directory)
            retention.prune(self.settings.keep_days, self.settings.keep_gb, self.directory)
            if shutil.disk_usage(self.directory).free < MIN_FREE_BYTES:
                raise OSError(errno.ENOSPC, "less than 200 MB free")
            retention.active.add(self.stem)
            self._journal = open(self.directory / f"{self.stem}.journal", "w", encoding="utf-8")
            self._log({"event": "start", "version": 1, "persona": self.persona,
                       "started_at": self.started_at, "rate": RATE,
                       "audio": f"{self.stem}.wav"}, flush=True)
            self.wav_path = self.directory / f"{self.stem}.wav"
            self._wav = WavStream(self.wav_path, RATE, 2)
        except OSError as e:
            self._stop(e)

    def _piece(self, side: str, piece: str, at: float) -> None:
        add_piece(self.words[side], piece, at, FRAME_S)
        self._log({"event": "piece", "speaker": side, "piece": piece, "time": round(at, 3)})

    def _log(self, record: dict, flush: bool = False) -> None:
        if self._journal is None:
            return
        try:
            self._journal.write(json.dumps(record, ensure_ascii=False) + "\n")
            if flush:
                self._journal.flush()
        except OSError as e:
            self._stop(e)

    def _sync(self) -> None:
        self._wav.sync()
        self._journal.flush()
        self._synced = self._wav.data_bytes

    def _stop(self, e: OSError) -> None:
        if self.error is None:
            at = f"{int(self.frames * FRAME_S // 60)}:{int(self.frames * FRAME_S % 60):02d}"
            if e.errno in _FULL:
                self.error = DiskFullError(
                    f"The disk is full: recording stopped at {at} into the conversation.",
                    "Free some space; the conversation goes on without being recorded.")
            else:
                self.error = AudioFileError(
                    f"The conversation could not be saved in {self.directory} "
                    f"({e.strerror or e}).",
                    "Check that the folder can be written, or turn recording off in "
                    "Settings; the conversation goes on.")
        if self._wav is not None:
            try:
                self._wav.sync()
            except OSError:
                pass
            self._wav.abandon()
            self._wav = None
        self._close_journal()

    def _close_journal(self) -> None:
        if self._journal is not None:
            journal, self._journal = self._journal, None
            try:
                journal.close()
            except OSError:
                pass


def transcript(persona: str, started_at: float, duration: float, audio_s: float, audio: str,
               words: dict[str, list[Word]], turns: list[dict], recovered: bool = False,
               stopped: str | None = None) -> dict:
    return {"version": 1, "persona": persona, "started_at": started_at,
            "duration": round(duration, 3), "audio": audio, "audio_seconds": round(audio_s, 3),
            "sample_rate": RATE, "channels": list(CHANNELS),
            "words": {side: [asdict(w) for w in words[side]] for side in CHANNELS},
            "turns": turns, "recovered": recovered, "stopped": stopped}


def recover(directory: Path | None = None, stale_s: float = STALE_S,
            now: float | None = None) -> list[Path]:
    """Finish conversations a crash left unfinished: mend each WAV and write its JSON
    from the journal. Journals of recordings still going (in this process, or touched in
    the last `stale_s` seconds by another) are left alone. Returns the JSONs written."""
    directory = directory or retention.folder()
    now = time.time() if now is None else now
    done = []
    for journal in sorted(directory.glob("*.journal")):
        stem = journal.stem
        if stem in retention.active or not retention.STEM.match(stem):
            continue
        wav = directory / f"{stem}.wav"
        try:
            touched = max(p.stat().st_mtime for p in (journal, wav) if p.exists())
            if now - touched < stale_s:
                continue
            done.append(_recover(journal, wav))
        except OSError:
            continue  # try again next time
    return done


def _recover(journal: Path, wav: Path) -> Path:
    audio_s = repair(wav, RATE, 2) if wav.exists() else 0.0
    data = _from_journal(journal, wav, audio_s)
    out = journal.with_suffix(".json")
    _write_json(out, data)
    journal.unlink()
    return out


def read(wav: str | os.PathLike) -> dict | None:
    """What a recording holds, without changing it: its transcript JSON, or for one not
    finished (its engine died, or is still writing) what its journal holds so far. None
    when neither can be read."""
    wav = Path(wav)
    try:
        return json.loads(wav.with_suffix(".json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    journal = wav.with_suffix(".journal")
    try:
        size = wav.stat().st_size if wav.exists() else 0
        return _from_journal(journal, wav, max(0, size - HEADER) // 4 / RATE)
    except OSError:
        return None


def _from_journal(journal: Path, wav: Path, audio_s: float) -> dict:
    start: dict = {}
    words: dict[str, list[Word]] = {USER: Words(), ASSISTANT: Words()}
    turns: list[dict] = []
    end = 0.0
    for line in journal.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:  # the line a crash cut short
            continue
        # A damaged line of another shape is skipped too: else the journal would stay,
        # failing again at every start.
        kind = record.get("event") if isinstance(record, dict) else None
        if kind == "start":
            start = record
        elif kind == "piece" and record.get("speaker") in words and \
                isinstance(record.get("piece"), str) and _seconds(record.get("time")):
            add_piece(words[record["speaker"]], record["piece"], record["time"], FRAME_S)
            end = max(end, record["time"] + FRAME_S)
        elif kind == "turn" and _turn_like(record.get("turn")):
            turns.append(record["turn"])
            end = max(end, record["turn"]["end"])
    started_at = start.get("started_at")
    if not _seconds(started_at):
        started_at = journal.stat().st_mtime - max(audio_s, end)
    return transcript(start.get("persona", ""), started_at, max(audio_s, end), audio_s,
                      wav.name, words, turns, recovered=True)


def _seconds(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and \
        0 <= value < 1e12  # NaN and infinity fail too


def _turn_like(turn) -> bool:
    """A turn as Turn writes it (memory reads these fields and its backchannels')."""
    return _span_like(turn) and isinstance(turn.get("text"), str) and \
        isinstance(turn.get("backchannels", []), list) and \
        all(_span_like(b) for b in turn.get("backchannels", []))


def _span_like(span) -> bool:
    return isinstance(span, dict) and span.get("speaker") in (USER, ASSISTANT) and \
        _seconds(span.get("start")) and _seconds(span.get("end"))


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".part")
    try:
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
