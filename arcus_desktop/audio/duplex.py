"""One duplex stream on the user's devices at whatever rate they run, turned into the
engine's 80 ms frames at 24 kHz. The PortAudio callback only copies between the device
and two rings; resampling, muting, volume, echo cancellation and replacing a device
that went away happen on the reader's thread."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..core.errors import ArcusError
from . import devices
from .echo import EchoCanceller
from .ring import Ring

RATE = 24_000
FRAME = 1920  # 80 ms at 24 kHz
CHECK_S = 0.1  # how often a reader waiting for the microphone checks on the stream
# Callbacks that stop for STALL_S, once FLOWING of them (0.5 s) came, mean the device is
# gone; a stream may start with a few and then wait (PulseAudio's null sink: 1.8 s). An
# xrun starts the count again: ALSA's pulse plugin reconnects the stream after one, and
# the new connection waits the same way (a late callback on a busy machine does this).
STALL_S = 1.0
FLOWING = 25
CLOSE_S = 3.0  # a stream that takes longer to close is stuck in the sound system's library
NO_DEVICE_HINT = ("Plug in a headset, or speakers and a microphone, or choose other devices "
                  "in the settings; then resume the conversation.")


class AudioDeviceError(ArcusError):
    pass


@dataclass(frozen=True)
class DeviceNotice:
    """What to tell the user when the devices in use are not the ones they had."""
    # "lost": one in use went away; "restarted": the same ones were reopened after an
    # error; "fallback": one asked for is absent or would not open; "changed": reopen()
    # did what was asked.
    reason: str
    message: str
    input_name: str  # the devices in use now
    output_name: str


@dataclass
class AudioStats:
    capture_overruns: int  # microphone samples lost because the reader fell behind
    playback_underruns: int  # speaker samples that had to be silence
    device_xruns: int  # PortAudio's own over/underflow reports
    output_latency_ms: float
    input_latency_ms: float
    capture_queue_ms: float = 0.0  # microphone audio waiting to be framed (the engine lags)
    playback_queue_ms: float = 0.0  # reply audio waiting to be played


def _quoted(inp: str, out: str) -> str:
    return f"“{inp}”" if inp == out else f"“{inp}” (microphone) and “{out}” (speaker)"


class DuplexAudio:
    """Call everything from one thread (the engine's); `on_notice` is called there too,
    from the constructor, `read_frame` and `reopen`. Devices are chosen by name as
    `list_devices()` shows them (an index from that list works until the next rescan),
    None for the system default."""

    def __init__(self, input_device=None, output_device=None, echo: EchoCanceller | None = None,
                 buffer_s: float = 2.0,
                 on_notice: Callable[[DeviceNotice], None] | None = None) -> None:
        import sounddevice as sd
        import soxr

        self._sd, self._soxr = sd, soxr
        self.echo = echo
        self.on_notice = on_notice
        self.muted = False
        self.volume = 1.0
        self.device_rate = 0
        self.input_name = self.output_name = ""
        self._buffer_s = buffer_s
        self._capture = self._playback = self._to_engine = self._to_device = None
        self._pending = np.zeros(0, np.float32)  # 24 kHz microphone audio not yet a frame
        self._played = np.zeros(FRAME, np.float32)  # the reference for echo cancellation
        self._dropped = [0, 0]  # counts of rings replaced when the device rate changed
        self._xruns = 0
        self._stream = None
        self._started = False
        self._stuck = False  # a stream would not close: PortAudio cannot be restarted now
        self._calls = self._seen_calls = 0  # callbacks so far; those the reader has seen
        self._progress_at = 0.0  # when the reader last saw the count move
        self._restarted_at = 0  # the count when the stream last (re)started: an xrun
        self._tell("fallback", self._fallback_message(self._open(input_device, output_device)))

    # -- the PortAudio thread ------------------------------------------------------------

    def _callback(self, indata, outdata, frames, time, status) -> None:
        # Copy in, copy out, count, nothing else.
        self._calls += 1
        if status.input_overflow or status.output_underflow:
            self._xruns += 1
            self._restarted_at = self._calls
        self._capture.write(indata[:, 0])
        self._playback.read_into(outdata[:, 0])

    # -- opening and replacing devices -------------------------------------------------

    def _open(self, input_device, output_device) -> dict[str, tuple[str, str]]:
        """Open the devices asked for, or the system default for either one that is
        absent or will not open. Returns, per side that fell back, (asked, why)."""
        asked = {}
        try:
            inp = devices.find(input_device, "input")
        except LookupError:
            inp, asked["input"] = None, (input_device, "is not connected")
        try:
            out = devices.find(output_device, "output")
        except LookupError:
            out, asked["output"] = None, (output_device, "is not connected")
        error = None
        for pair in dict.fromkeys([(inp, out), (None, out), (inp, None), (None, None)]):
            try:
                self._start_stream(*pair)
                break
            except (self._sd.PortAudioError, ValueError) as e:
                error = e
        else:
            raise AudioDeviceError("No sound device could be opened.",  # details: __cause__
                                   NO_DEVICE_HINT) from error
        if pair[0] != inp:
            asked["input"] = (input_device, "could not be opened")
        if pair[1] != out:
            asked["output"] = (output_device, "could not be opened")
        return asked

    def _start_stream(self, inp: int | None, out: int | None) -> None:
        sd = self._sd
        rate = int(sd.query_devices(out, "output")["default_samplerate"])
        # 20 ms blocks: each callback takes the GIL, and tiny blocks would take it
        # hundreds of times a second from the thread running the model.
        stream = sd.Stream(samplerate=rate, channels=1, dtype="float32", device=(inp, out),
                           blocksize=rate // 50, callback=self._callback)
        self._use_rate(rate)
        self._calls = self._seen_calls = self._restarted_at = 0
        self._progress_at = time.monotonic()
        if self._started:
            try:
                stream.start()
            except sd.PortAudioError:
                stream.close(ignore_errors=True)
                raise
        self._stream = stream
        self.input_name = devices.name_of(inp, "input")
        self.output_name = devices.name_of(out, "output")
        if self.echo is not None:
            latency = stream.latency
            self.echo.set_delay_ms(round(1000 * (latency[0] + latency[1])))

    def _use_rate(self, rate: int) -> None:
        """Rings and resamplers for a device at `rate`; what the old ones held carries over
        (the user's last words, the assistant's next ones)."""
        if rate == self.device_rate:
            return
        old, capture, playback, to_engine = (self.device_rate, self._capture, self._playback,
                                             self._to_engine)
        self._capture = Ring(int(rate * self._buffer_s))
        self._playback = Ring(int(rate * self._buffer_s))
        self._to_engine = self._soxr.ResampleStream(rate, RATE, 1, dtype="float32")
        self._to_device = self._soxr.ResampleStream(RATE, rate, 1, dtype="float32")
        self.device_rate = rate
        if old:
            heard = to_engine.resample_chunk(capture.read(capture.available()), last=True)
            self._pending = np.concatenate([self._pending, heard])
            queued = playback.read(playback.available())
            if queued.size:
                self._playback.write(self._soxr.resample(queued, old, rate).astype(np.float32))
            self._dropped[0] += capture.overruns
            self._dropped[1] += playback.underruns

    def _close_stream(self, drain: bool) -> bool:
        """Close the stream from a helper thread, waiting CLOSE_S at most: when the sound
        server dies, libpulse can deadlock inside PortAudio's abort (seen with the ALSA
        pulse plugin), and the engine's thread must not hang with it. False if stuck."""
        stream, self._stream = self._stream, None
        if stream is None:
            return True

        def shut():
            if drain:
                stream.stop(ignore_errors=True)
            else:
                stream.abort(ignore_errors=True)  # a broken device may never drain
            stream.close(ignore_errors=True)

        closer = threading.Thread(target=shut, name="arcus-audio-close", daemon=True)
        closer.start()
        closer.join(CLOSE_S)
        self._stuck = self._stuck or closer.is_alive()
        return not closer.is_alive()

    @staticmethod
    def _stuck_error() -> AudioDeviceError:
        return AudioDeviceError("The sound system stopped responding.",
                                "The conversation is paused; restart Arcus (or the sound "
                                "system) to get sound back.")

    def _lost(self) -> bool:
        """PortAudio ended the stream (it does on a device error), or its callbacks,
        which were flowing, stopped."""
        if self._stream is None or not self._started:
            return False
        if not self._stream.active:
            return True
        now = time.monotonic()
        if self._calls != self._seen_calls:
            self._seen_calls, self._progress_at = self._calls, now
            return False
        return (self._seen_calls - self._restarted_at >= FLOWING
                and now - self._progress_at > STALL_S)

    def _recover(self) -> None:
        """Reopen on the system's default devices, as the system sees them now."""
        if self._stuck:  # restarting PortAudio would wait on the stuck stream forever
            raise self._stuck_error()
        was = (self.input_name, self.output_name)
        if not self._close_stream(drain=False):
            raise self._stuck_error()
        devices.rescan()
        present = {d.name for d in devices.list_devices()}
        self._open(None, None)
        now = _quoted(self.input_name, self.output_name)
        gone = list(dict.fromkeys(name for name in was if name and name not in present))
        if gone:
            what = " and ".join(f"“{name}”" for name in gone)
            what += " were disconnected" if len(gone) > 1 else " was disconnected"
            self._tell("lost", f"{what}; now using {now}.")
        elif (self.input_name, self.output_name) == was:
            # PortAudio over ALSA's pulse plugin sometimes ends a healthy stream.
            self._tell("restarted", f"{now} stopped working and was restarted.")
        else:
            self._tell("lost", f"{_quoted(*was)} stopped working; now using {now}.")

    def reopen(self, input_device=None, output_device=None) -> None:
        """Switch devices mid-conversation (names as `list_devices()` shows them, None for
        the default), falling back to the default with a notice for a device that is
        absent or will not open; AudioDeviceError when nothing opens."""
        if self._stuck or not self._close_stream(drain=False):
            raise self._stuck_error()
        devices.rescan()  # a headset plugged in since PortAudio started is listed now
        fell_back = self._open(input_device, output_device)
        if fell_back:
            self._tell("fallback", self._fallback_message(fell_back))
        else:
            self._tell("changed", f"Now using {_quoted(self.input_name, self.output_name)}.")

    def _tell(self, reason: str, message: str) -> None:
        if message and self.on_notice is not None:
            self.on_notice(DeviceNotice(reason, message, self.input_name, self.output_name))

    def _fallback_message(self, asked: dict[str, tuple[str, str]]) -> str:
        now = {"input": self.input_name, "output": self.output_name}
        if len(asked) == 2 and asked["input"] == asked["output"] and len(set(now.values())) == 1:
            name, why = asked["input"]
            return f"“{name}” {why}; using “{self.input_name}” instead."
        label = {"input": "microphone", "output": "speaker"}
        return " ".join(f"The {label[side]} “{name}” {why}; using “{now[side]}” instead."
                        for side, (name, why) in asked.items())

    # -- the engine's side ---------------------------------------------------------------

    @property
    def stuck(self) -> bool:
        """A stream would not close (its sound system hangs). PortAudio cannot be restarted
        in this process any more, nor ended: sounddevice's exit handler would wait on that
        stream forever, so the process should leave with os._exit."""
        return self._stuck

    def start(self) -> None:
        self._started = True
        if self._stream is not None:
            self._progress_at = time.monotonic()
            try:
                self._stream.start()
            except self._sd.PortAudioError:  # opened, but went away before it started
                self._recover()

    def close(self) -> None:
        self._started = False
        if not self._stuck:  # at once: the conversation is over, its last reply with it
            self._close_stream(drain=False)

    def __enter__(self) -> "DuplexAudio":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def read_frame(self, timeout: float = 1.0) -> np.ndarray | None:
        """The next 80 ms of microphone at 24 kHz (echo removed, zeros when muted), or
        None when the device delivered nothing for `timeout` seconds. A device that went
        away is noticed here within about a second and replaced by the system default
        (with a notice); AudioDeviceError when no device can be opened."""
        if self._stream is None:  # the last attempt found none: try again
            self._recover()
        deadline = time.monotonic() + timeout
        while self._pending.size < FRAME:
            wait = max(0.0, min(CHECK_S, deadline - time.monotonic()))
            # Take each block as it comes: waiting for a frame's worth of device audio
            # held up to a frame of newer audio back (the resampler lets its output out
            # in bursts), and so delayed every frame by ~60 ms (bench/audio_latency.py).
            if self._capture.wait_for(1, wait):
                got = self._to_engine.resample_chunk(self._capture.read(self._capture.available()))
                self._pending = np.concatenate([self._pending, got])
            elif self._lost():
                self._recover()
                deadline = time.monotonic() + timeout  # the new device gets the whole wait
            elif time.monotonic() >= deadline:
                return None
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
        latency = self._stream.latency if self._stream is not None else (0.0, 0.0)
        rate = self.device_rate or RATE
        return AudioStats(self._dropped[0] + self._capture.overruns,
                          self._dropped[1] + self._playback.underruns, self._xruns,
                          1000 * latency[1], 1000 * latency[0],
                          1000 * (self._capture.available() / rate + self._pending.size / RATE),
                          1000 * self._playback.available() / rate)
