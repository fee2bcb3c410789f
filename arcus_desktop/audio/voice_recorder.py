"""Record the user's own voice from the microphone into memory: at most
MAX_VOICE_SECONDS (the engine uses no more), then it stops taking audio by itself.
The PortAudio callback only copies; the window polls `seconds`, `level` and `full`."""

from __future__ import annotations

import numpy as np

from ..core.errors import ArcusError
from . import devices
from .streams import BLOCK_S, RATE, _close_all, pick_rate
from .voice_check import MAX_VOICE_SECONDS


class RecorderError(ArcusError):
    pass


class VoiceRecorder:
    def __init__(self, input_device: str | None = None,
                 max_seconds: float = MAX_VOICE_SECONDS) -> None:
        """`input_device`: a device name from the Audio page, or None for the system's."""
        self.input_device = input_device or None
        self.max_seconds = max_seconds
        self.note = ""  # said to the user: e.g. the chosen microphone was not there
        self.device_name = ""
        self._stream = None
        self._buffer = np.zeros(0, np.float32)
        self._n = 0  # samples kept so far (written by the callback only)
        self._level = 0.0
        self.rate = RATE

    def start(self) -> None:
        """Open the microphone and record. RecorderError when none can be opened."""
        import sounddevice as sd

        try:
            index = devices.find(self.input_device, "input")
        except LookupError:
            index = None
            self.note = (f"{self.input_device} is not connected: recording from the system's "
                         "microphone.")
        try:
            self.rate = pick_rate(sd, index, "input")
            self._buffer = np.zeros(int(self.max_seconds * self.rate), np.float32)
            self._n = 0
            self._stream = sd.InputStream(samplerate=self.rate, channels=1, dtype="float32",
                                          device=index, blocksize=round(self.rate * BLOCK_S),
                                          callback=self._heard)
            self._stream.start()
        except (sd.PortAudioError, ValueError) as e:
            self._close()
            raise RecorderError("The microphone could not be opened.",
                                "Check that it is plugged in, or choose another one in "
                                "Settings > Audio.") from e
        self.device_name = devices.name_of(index, "input")

    def _heard(self, indata, frames, when, status) -> None:  # PortAudio's thread
        n = self._n
        take = min(frames, self._buffer.size - n)
        if take > 0:
            self._buffer[n:n + take] = indata[:take, 0]
            self._n = n + take
        self._level = float(np.sqrt(np.mean(np.square(indata[:, 0])))) if frames else 0.0

    @property
    def recording(self) -> bool:
        return self._stream is not None

    @property
    def seconds(self) -> float:
        return self._n / self.rate

    @property
    def level(self) -> float:
        """RMS of the latest block, 0..1."""
        return self._level

    @property
    def full(self) -> bool:
        return self._buffer.size > 0 and self._n >= self._buffer.size

    def stop(self) -> np.ndarray:
        """Close the microphone; what was recorded, mono float32 at 24 kHz."""
        self._close()
        pcm = self._buffer[: self._n].copy()
        if self.rate != RATE and pcm.size:
            import sphn

            want = round(pcm.size * RATE / self.rate)
            pcm = sphn.resample(pcm[None], self.rate, RATE)[0, :want]
            pcm = np.pad(pcm, (0, want - pcm.size)).astype(np.float32)
        return pcm

    def _close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            _close_all([stream], drain=False)
