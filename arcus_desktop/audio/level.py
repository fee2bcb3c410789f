"""A microphone's loudness, for a level meter: an input stream whose callback keeps the
loudest block since the meter last looked."""

from __future__ import annotations

import threading

import numpy as np

from . import devices
from .duplex import AudioDeviceError
from .streams import _close_all

FLOOR_DB = -60.0  # quieter than this shows as nothing


class LevelMeter:
    """Opens `device` (a name from `list_devices()`, None for the default) at once;
    LookupError when it is not connected, AudioDeviceError when it will not open. `level()` from any thread; `close()` when done."""

    def __init__(self, device: str | None = None) -> None:
        import sounddevice as sd

        index = devices.find(device or None, "input")
        self.name = devices.name_of(index, "input")
        self._peak = 0.0
        try:
            with devices.reaching(index, "input"):
                self._stream = sd.InputStream(device=index, channels=1, dtype="float32",
                                              blocksize=0, latency="low", callback=self._heard)
        except sd.PortAudioError as e:
            raise AudioDeviceError(f"“{self.name}” could not be opened ({e}).",
                                   "Check that it is plugged in, or choose another "
                                   "microphone.") from e
        try:
            self._stream.start()
        except BaseException:
            self._stream.close(ignore_errors=True)
            raise

    def _heard(self, indata, frames, when, status) -> None:
        rms = float(np.sqrt(np.mean(np.square(indata[:, 0], dtype=np.float64)))) if frames else 0.0
        self._peak = max(self._peak, rms)

    def level(self) -> float:
        """The loudest moment since the last call, 0 (silence, or FLOOR_DB and quieter)
        to 1 (full scale), on a decibel scale as level meters show it."""
        peak, self._peak = self._peak, 0.0
        if peak <= 0.0:
            return 0.0
        db = 20 * np.log10(peak)
        return float(min(1.0, max(0.0, 1 - db / FLOOR_DB)))

    def close(self) -> None:
        with devices.portaudio_lock:
            _close_all([self._stream], drain=False)


class MeterSlot:
    """The one meter a window shows, opened and closed on worker threads: a meter that
    finishes opening after it was stopped (another microphone chosen, the window
    hidden or gone) is closed at once, never left recording."""

    def __init__(self, opener=LevelMeter) -> None:
        self._opener = opener
        self._lock = threading.Lock()
        self._turn = 0
        self._meter: LevelMeter | None = None

    def stop(self) -> "LevelMeter | None":
        """Stop the current meter (and any still opening); returns the open one, for
        the caller to close (its `close` blocks)."""
        with self._lock:
            self._turn += 1
            meter, self._meter = self._meter, None
            return meter

    def turn(self) -> int:
        with self._lock:
            return self._turn

    def open(self, device: str | None, turn: int) -> "LevelMeter | None":
        """Blocking: open a meter on `device` for `turn` (as `turn()` gave it); None, and
        nothing left open, if the slot was stopped meanwhile."""
        meter = self._opener(device)
        with self._lock:
            if turn == self._turn:
                self._meter = meter
                return meter
        meter.close()
        return None

    def level(self) -> float:
        meter = self._meter
        return meter.level() if meter is not None else 0.0
