"""A recording played on the speaker chosen on the Audio page: a voice file, a preset
voice's sample, a stretch of a conversation.

The file is decoded with the bounded reader (files.read_clip) and played from a
PortAudio callback that only copies. Opening blocks (decoding, the sound server), so it
belongs on a worker thread; everything else returns at once and may be called from any
thread: `stop` closes the stream on a thread of its own, and `check` tells whether the
device went away (PortAudio ended the stream, or its callbacks stopped coming)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from ..core.errors import ArcusError
from . import devices
from .duplex import AudioDeviceError
from .files import DEFAULT_MAX_SECONDS, read_clip
from .streams import CLOSE_S, _close_all, pick_rate

VOICE_MAX_S = 60.0  # a voice file or sample: more than the engine ever uses of one
WINDOW_S = DEFAULT_MAX_SECONDS  # a conversation is decoded this much at a time
BLOCK_S = 0.02
# As DuplexAudio tells a device that went away: callbacks that came (FLOWING of them
# since the last xrun) and then stopped for STALL_S. A stream may begin with a few and
# then wait (PulseAudio's idle null sink: 1.8 s), hence FLOWING; none at all for
# START_S and it never started.
STALL_S = 1.0
FLOWING = 25
START_S = 10.0
DRAIN_S = 5.0  # the end was reached: PortAudio says it has sounded within this
SPEAKER_HINT = "Check that it is plugged in, or choose another speaker on the Audio page."

PLAYING, STOPPED, FINISHED, FAILED = "playing", "stopped", "finished", "failed"


def _output(device: str | None):
    """PortAudio's index for `device` now; the ways that fails, as the user is told."""
    try:
        return devices.find(device or None, "output")
    except LookupError:
        raise AudioDeviceError(f"The speaker “{device}” is not connected.",
                               "Plug it in, or choose another speaker on the Audio page.") \
            from None


class FilePlayer:
    """Up to `max_seconds` of `path` from `start_s` on, opened (blocking) on `device` (a
    name from `list_devices()`, None for the system default). Raises ArcusError:
    AudioFileError for a file that cannot be read, AudioDeviceError for a speaker that is
    not connected or will not open. `start()` (blocking too), then from any thread
    `position`, `seek`, `check`, `stop`."""

    def __init__(self, path: str | Path, device: str | None = None, start_s: float = 0.0,
                 max_seconds: float = VOICE_MAX_S) -> None:
        try:
            import sounddevice as sd
        except OSError as e:  # sounddevice found no PortAudio library
            raise ArcusError("PortAudio, which Arcus uses for sound, is not installed.",
                             "Install it (libportaudio2 on Debian and Ubuntu).") from e
        self._sd = sd
        index = _output(device)
        self.device_name = devices.name_of(index, "output")
        self.rate = pick_rate(sd, index, "output")
        clip = read_clip(path, self.rate, max_seconds, start_s=start_s)
        self.start_s = max(0.0, start_s)
        self.duration = self.start_s + clip.seconds  # the whole file's, as far as known
        self.more = clip.trimmed > 0  # the file goes on past the part decoded
        self._pcm = clip.pcm
        self._lock = threading.Lock()
        self._at = 0  # the next sample the callback copies
        self._state = STOPPED
        self.error = ""
        self._calls = self._restarted_at = self._seen = 0
        self._progress_at = self._end_at = 0.0
        self._ended = threading.Event()  # PortAudio finished the stream
        self._closing = False
        self._closed = threading.Event()
        try:
            with devices.reaching(index, "output"):
                self._stream = sd.OutputStream(
                    device=index, samplerate=self.rate, channels=1, dtype="float32",
                    blocksize=round(self.rate * BLOCK_S), latency="high",
                    callback=self._fill, finished_callback=self._ended.set)
        except (sd.PortAudioError, ValueError) as e:
            raise AudioDeviceError(f"“{self.device_name}” could not be opened ({e}).",
                                   SPEAKER_HINT) from e

    @property
    def end_s(self) -> float:
        """Where the decoded part ends, seconds into the file."""
        return self.start_s + self._pcm.size / self.rate

    # --- PortAudio's thread: copy --------------------------------------------------------

    def _fill(self, outdata, frames, when, status) -> None:
        with self._lock:
            self._calls += 1
            if status.output_underflow:  # ALSA's pulse plugin reconnects after one
                self._restarted_at = self._calls
            if self._state != PLAYING:
                outdata.fill(0)
                return
            at = self._at
            chunk = self._pcm[at:at + frames]
            outdata[:chunk.size, 0] = chunk
            outdata[chunk.size:] = 0
            self._at = at + chunk.size
            if chunk.size < frames:
                if not self._end_at:
                    self._end_at = time.monotonic()
                raise self._sd.CallbackStop  # what was given still sounds

    # --- any thread ------------------------------------------------------------------------

    def start(self) -> "FilePlayer":
        """Start playing (blocking: the sound system may take a moment); AudioDeviceError
        when the speaker will not start. Nothing happens once stopped."""
        with self._lock:
            if self._state != STOPPED or self._closing:
                return self
            self._state = PLAYING
            self._progress_at = time.monotonic()
        try:
            self._stream.start()
        except self._sd.PortAudioError as e:
            self._end(FAILED, "")
            raise AudioDeviceError(f"“{self.device_name}” would not start playing ({e}).",
                                   SPEAKER_HINT) from e
        return self

    @property
    def position(self) -> float:
        """Seconds into the file of the next sample to play."""
        return self.start_s + self._at / self.rate

    def seek(self, seconds: float) -> bool:
        """Play on from `seconds` into the file; False (nothing changes) when that is
        outside the decoded part: open another player there."""
        i = round((seconds - self.start_s) * self.rate)
        if i < 0 or (i > self._pcm.size and self.more):
            return False
        with self._lock:
            self._at = min(i, self._pcm.size)
        return True

    def check(self) -> str:
        """PLAYING, STOPPED, FINISHED (played to the end) or FAILED (`error` says why: the
        speaker went away or stopped working). Returns at once."""
        with self._lock:
            if self._state != PLAYING:
                return self._state
            now = time.monotonic()
            if self._end_at:  # the last samples were handed over: they drain
                if self._ended.is_set() or now - self._end_at > DRAIN_S:
                    state = FINISHED
                else:
                    return PLAYING
            elif self._ended.is_set():  # PortAudio ended it: a device error
                state = FAILED
            elif self._calls != self._seen:
                self._seen, self._progress_at = self._calls, now
                return PLAYING
            elif (self._calls - self._restarted_at >= FLOWING and now - self._progress_at > STALL_S) \
                    or now - self._progress_at > START_S:
                state = FAILED
            else:
                return PLAYING
        self._end(state, f"“{self.device_name}” stopped playing: it was disconnected or "
                         f"stopped working. {SPEAKER_HINT}")
        return state

    def stop(self) -> None:
        """Stop at once; the stream closes on a thread of its own."""
        self._end(STOPPED, "")

    def _end(self, state: str, error: str) -> None:
        with self._lock:
            if self._state == PLAYING or state == FAILED:
                self._state = state
                self.error = error if state == FAILED else ""
            if self._closing:
                return
            self._closing = True

        def close() -> None:
            try:
                _close_all([self._stream], drain=False)
            finally:
                self._closed.set()

        devices.close_off_thread(close)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def wait_closed(self, timeout: float = CLOSE_S + 2) -> bool:
        return self._closed.wait(timeout)

    def wait(self, timeout: float) -> str:
        """Until it is no longer playing, `timeout` seconds at most; `check()`'s answer."""
        deadline = time.monotonic() + timeout
        while (state := self.check()) == PLAYING and time.monotonic() < deadline:
            self._ended.wait(0.05)
        return state
