"""A microphone's loudness, for a level meter: an input stream whose callback keeps the
loudest block since the meter last looked."""

from __future__ import annotations

import numpy as np

from . import devices
from .streams import _close_all

FLOOR_DB = -60.0  # quieter than this shows as nothing


class LevelMeter:
    """Opens `device` (a name from `list_devices()`, None for the default) at once;
    LookupError when it is not connected, sounddevice's PortAudioError when it will not
    open. `level()` from any thread; `close()` when done."""

    def __init__(self, device: str | None = None) -> None:
        import sounddevice as sd

        index = devices.find(device or None, "input")
        self.name = devices.name_of(index, "input")
        self._peak = 0.0
        with devices.reaching(index, "input"):
            self._stream = sd.InputStream(device=index, channels=1, dtype="float32",
                                          blocksize=0, latency="low", callback=self._heard)
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
        _close_all([self._stream], drain=False)
