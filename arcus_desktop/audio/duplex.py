"""One duplex stream on the user's devices at whatever rate they run, turned into the
engine's 80 ms frames at 24 kHz. The PortAudio callback only copies between the device
and two rings; resampling, muting, volume and echo cancellation happen on the reader's
thread."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.errors import ArcusError
from .echo import EchoCanceller
from .ring import Ring

RATE = 24_000
FRAME = 1920  # 80 ms at 24 kHz


class AudioDeviceError(ArcusError):
    pass


@dataclass
class AudioStats:
    capture_overruns: int  # microphone samples lost because the reader fell behind
    playback_underruns: int  # speaker samples that had to be silence
    device_xruns: int  # PortAudio's own over/underflow reports
    output_latency_ms: float
    input_latency_ms: float


class DuplexAudio:
    def __init__(self, input_device=None, output_device=None, echo: EchoCanceller | None = None,
                 buffer_s: float = 2.0) -> None:
        import sounddevice as sd
        import soxr

        self._sd = sd
        try:
            rate = sd.query_devices(output_device, "output")["default_samplerate"]
        except (ValueError, sd.PortAudioError) as e:
            raise AudioDeviceError("No usable audio device was found.",
                                   "Plug in a headset or speakers and microphone, or choose "
                                   "other devices in the settings.") from e
        self.device_rate = int(rate)
        self._capture = Ring(int(self.device_rate * buffer_s))
        self._playback = Ring(int(self.device_rate * buffer_s))
        self._to_engine = soxr.ResampleStream(self.device_rate, RATE, 1, dtype="float32")
        self._to_device = soxr.ResampleStream(RATE, self.device_rate, 1, dtype="float32")
        self._pending = np.zeros(0, np.float32)  # 24 kHz microphone audio not yet a frame
        self._played = np.zeros(FRAME, np.float32)  # the reference for echo cancellation
        self.echo = echo
        self.muted = False
        self.volume = 1.0
        self._xruns = 0
        try:
            # 20 ms blocks: each callback takes the GIL, and tiny blocks would take it
            # hundreds of times a second from the thread running the model.
            self._stream = sd.Stream(samplerate=self.device_rate, channels=1, dtype="float32",
                                     device=(input_device, output_device),
                                     blocksize=self.device_rate // 50, callback=self._callback)
        except sd.PortAudioError as e:
            raise AudioDeviceError(f"The audio device could not be opened ({e}).",
                                   "Close other programs that use it, or choose another "
                                   "device in the settings.") from e
        if echo is not None:
            latency = self._stream.latency
            echo.set_delay_ms(round(1000 * (latency[0] + latency[1])))

    def _callback(self, indata, outdata, frames, time, status) -> None:
        # PortAudio's thread: copy in, copy out, count, nothing else.
        if status.input_overflow or status.output_underflow:
            self._xruns += 1
        self._capture.write(indata[:, 0])
        self._playback.read_into(outdata[:, 0])

    def start(self) -> None:
        self._stream.start()

    def close(self) -> None:
        self._stream.stop()
        self._stream.close()

    def __enter__(self) -> "DuplexAudio":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def read_frame(self, timeout: float = 1.0) -> np.ndarray | None:
        """The next 80 ms of microphone at 24 kHz (echo removed, zeros when muted), or
        None when the device delivered nothing for `timeout` seconds."""
        chunk = -(-FRAME * self.device_rate // RATE)  # device samples per frame, rounded up
        while self._pending.size < FRAME:
            if not self._capture.wait_for(min(chunk, self._capture.capacity), timeout):
                return None
            got = self._to_engine.resample_chunk(self._capture.read(chunk))
            self._pending = np.concatenate([self._pending, got])
        frame, self._pending = self._pending[:FRAME], self._pending[FRAME:]
        if self.muted:
            return np.zeros(FRAME, np.float32)
        if self.echo is not None:
            frame = self.echo.cancel(frame, self._played)
        return frame

    def write_frame(self, pcm: np.ndarray) -> None:
        """80 ms of the assistant at 24 kHz, to the speaker (at the set volume)."""
        pcm = np.asarray(pcm, np.float32) * self.volume
        self._played = pcm
        self._playback.write(self._to_device.resample_chunk(pcm))

    @property
    def stats(self) -> AudioStats:
        latency = self._stream.latency
        return AudioStats(self._capture.overruns, self._playback.underruns, self._xruns,
                          1000 * latency[1], 1000 * latency[0])
