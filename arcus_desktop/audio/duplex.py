"""The user's microphone and speaker, turned into the engine's 80 ms frames at 24 kHz
with as little delay as the devices allow (bench/audio_latency.py measures it).

The PortAudio callbacks (audio/streams.py) only copy between the devices and rings;
resampling, muting, volume, echo cancellation, keeping the delay from creeping up and
replacing a device that went away happen on the reader's thread. Delay never creeps:
microphone audio that waited longer than STALE_S is dropped (the engine hears the
present, not a backlog), and a playback queue that stays longer than it needs is
shortened at the speaker's next block."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..core.errors import ArcusError
from . import devices
from .echo import EchoCanceller
from .pulse_out import PulseError
from .ring import Ring
from .clock import Clock
from .streams import RATE, Streams, pick_rate
from .tape import Tape

FRAME = 1920  # 80 ms at 24 kHz
CHECK_S = 0.1  # how often a reader waiting for the microphone checks on the stream
# Callbacks that stop for STALL_S, once FLOWING of them (0.5 s) came, mean the device is
# gone; a stream may start with a few and then wait (PulseAudio's null sink: 1.8 s). An
# xrun starts the count again: ALSA's pulse plugin reconnects the stream after one, and
# the new connection waits the same way (a late callback on a busy machine does this).
STALL_S = 1.0
FLOWING = 25
# Microphone audio more than this behind the frame being read is stale: dropped.
STALE_S = 0.06
# The playback queue, just before a reply is added, should hold no more than SLACK_S
# (the engine's jitter): more, for a whole TRIM_FRAMES, and the excess is dropped. More
# builds up when a reply came a moment late and the speaker played a block of silence
# meanwhile: everything after it would sound that much later for good.
SLACK_S = 0.003
TRIM_FRAMES = 8
# Speaker xruns (its callback came too late) this many within XRUN_WINDOW_S: the
# machine is too busy for the speaker's block size, and it gets the next one.
XRUNS_TOO_MANY = 3
XRUN_WINDOW_S = 10.0
ARM_S = 1.0
# The sound system's queue for the speaker (PortAudio's stamps) above twice its nominal
# latency and this, for a whole TRIM_FRAMES: it crept, and the speaker is reopened.
CREPT_S = 0.05
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
    # What our path adds between the user's voice and the reply's sound (the engine's own
    # time aside): the frame, the devices, the queues, the echo canceller. Measured on
    # PortAudio's clock over the last 2 s (DuplexAudio._measure).
    added_delay_ms: float = 0.0
    stale_ms: float = 0.0  # microphone audio dropped after stalls
    trimmed_ms: float = 0.0  # playback queue dropped after stalls
    speaker_reopens: int = 0  # to drop the sound system's crept queue, or for larger blocks


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
        self.in_rate = self.out_rate = 0
        self.input_name = self.output_name = ""
        self._buffer_s = buffer_s
        self._capture = self._playback = self._tape = None
        self._to_engine = self._to_device = None  # resamplers, where a device is not at 24 kHz
        self._pending = np.zeros(0, np.float32)  # 24 kHz microphone audio not yet a frame
        self._pending_at = 0.0  # the microphone's sample index of _pending[0], at in_rate
        self._dropped = [0, 0]  # samples lost when rings were replaced: capture, playback
        self._stale = 0  # microphone samples (24 kHz) dropped as stale
        self._trimmed = 0  # playback samples (device rate) dropped from a queue too long
        self._queued: deque[int] = deque(maxlen=TRIM_FRAMES)  # playback queue before writes
        self._streams: Streams | None = None
        self._xrun_times: deque[float] = deque()  # when the speaker's recent xruns were seen
        self._ahead: deque[float] = deque(maxlen=TRIM_FRAMES)  # its queue at recent writes
        self._reopened = 0  # times the speaker was reopened to keep up (see _keep_up)
        self._xrun_times_seen = 0
        self._frame_heard_at: float | None = None  # the frame read last, if not answered
        self._read_at = 0.0  # when it was read (time.monotonic)
        self._frame_echo_s = 0.0  # what the echo canceller delayed it by
        self._delays: deque[float] = deque(maxlen=25)  # measured by _measure, seconds
        self._clock = Clock(RATE, RATE)
        self._xruns = 0  # of streams closed already
        self._started = False
        self._stuck = False  # a stream would not close: PortAudio cannot be restarted now
        self._seen = [0, 0]  # callbacks the reader has seen, per stream
        self._progress_at = [0.0, 0.0]  # when the reader last saw each count move
        self._tell("fallback", self._fallback_message(self._open(input_device, output_device)))

    @property
    def speaker_block_s(self) -> float:
        """The speaker's block now (it grows on a machine too busy for small ones)."""
        return self._streams.speaker_block_s if self._streams is not None else 0.0

    @property
    def native_speaker(self) -> bool:
        """The speaker is the sound server's own stream, written per reply (pulse_out)."""
        return self._streams is not None and self._streams.pulse is not None

    @property
    def device_rate(self) -> int:
        """The speaker's rate (the microphone's is in_rate)."""
        return self.out_rate

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
        in_rate, out_rate = pick_rate(sd, inp, "input"), pick_rate(sd, out, "output")
        self._use_rates(in_rate, out_rate)
        streams = Streams(sd, inp, out, in_rate, out_rate, self._capture, self._playback,
                          self._tape)
        self._seen, self._progress_at = [0, 0], [time.monotonic()] * 2
        if self._started:
            try:
                streams.start()
            except sd.PortAudioError:
                streams.close(drain=False)
                raise
        self._streams = streams
        self._xrun_times.clear()
        self._xrun_times_seen = 0
        self._armed_at = None  # when speaker xruns start to count (see _keep_up)
        self._ahead.clear()
        self._clock = Clock(in_rate, out_rate)
        self._queued.clear()
        self.input_name = devices.name_of(inp, "input")
        self.output_name = devices.name_of(out, "output")
        if self.echo is not None:
            # The reference is what the speaker played while the microphone heard the
            # frame (read_frame): what is left is the way through the air.
            self.echo.set_delay_ms(0)

    def _use_rates(self, in_rate: int, out_rate: int) -> None:
        """Rings and resamplers for devices at these rates; what the old ones held carries
        over (the user's last words, the assistant's next ones)."""
        soxr = self._soxr

        def stream(a, b):  # "QQ": no burst held back (the better qualities hold 20-35 ms)
            return soxr.ResampleStream(a, b, 1, dtype="float32", quality="QQ") if a != b else None

        if in_rate != self.in_rate:
            old, to_engine = self._capture, self._to_engine
            self._capture = Ring(int(in_rate * self._buffer_s))
            self._to_engine = stream(in_rate, RATE)
            if old is not None:
                heard = old.read(old.available())
                if to_engine is not None:
                    heard = to_engine.resample_chunk(heard, last=True)
                self._append(heard)
                self._dropped[0] += old.overruns
            self.in_rate = in_rate
        if out_rate != self.out_rate:
            old_rate, old = self.out_rate, self._playback
            self._playback = Ring(int(out_rate * self._buffer_s))
            self._tape = Tape(out_rate)  # a second of what was played
            self._to_device = stream(RATE, out_rate)
            if old is not None:
                queued = old.read(old.available())
                if queued.size:
                    self._playback.write(soxr.resample(queued, old_rate, out_rate)
                                         .astype(np.float32))
                self._dropped[1] += old.underruns
            self.out_rate = out_rate

    def _close_stream(self, drain: bool) -> bool:
        """False if the streams would not close (see Streams.close)."""
        streams, self._streams = self._streams, None
        if streams is None:
            return True
        self._xruns += streams.xruns
        if streams.pulse is not None:
            self._trimmed += streams.pulse.trimmed
        closed = streams.close(drain)
        self._stuck = self._stuck or not closed
        return closed

    @staticmethod
    def _stuck_error() -> AudioDeviceError:
        return AudioDeviceError("The sound system stopped responding.",
                                "The conversation is paused; restart Arcus (or the sound "
                                "system) to get sound back.")

    def _lost(self) -> bool:
        """PortAudio ended a stream (it does on a device error), or the callbacks of
        one, which were flowing, stopped."""
        if self._streams is None or not self._started:
            return False
        if not self._streams.active:
            return True
        now = time.monotonic()
        for i, calls in enumerate(self._streams.calls):
            if calls != self._seen[i]:
                self._seen[i], self._progress_at[i] = calls, now
            elif calls - self._streams.restarted_at[i] >= FLOWING \
                    and now - self._progress_at[i] > STALL_S:
                return True
        return False

    def _recover(self) -> None:
        """Reopen on the system's default devices, as the system sees them now."""
        if self._stuck:  # restarting PortAudio would wait on the stuck stream forever
            raise self._stuck_error()
        was = (self.input_name, self.output_name)
        if not self._close_stream(drain=False):
            raise self._stuck_error()
        devices.rescan()
        present = devices.present_names()
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
        if self._streams is not None:
            self._progress_at = [time.monotonic()] * 2
            try:
                self._streams.start()
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
        None when the device delivered nothing for `timeout` seconds. Audio more than
        STALE_S older than that is dropped. A device that went away is noticed here
        within about a second and replaced by the system default (with a notice);
        AudioDeviceError when no device can be opened."""
        if self._streams is None:  # the last attempt found none: try again
            self._recover()
        deadline = time.monotonic() + timeout
        while self._pending.size < FRAME:
            wait = max(0.0, min(CHECK_S, deadline - time.monotonic()))
            if self._capture.wait_for(1, wait):
                self._take_capture()
            elif self._lost():
                self._recover()
                deadline = time.monotonic() + timeout  # the new device gets the whole wait
            elif time.monotonic() >= deadline:
                return None
        self._take_capture()  # what came meanwhile counts towards staleness
        stale = self._pending.size - FRAME
        if stale > STALE_S * RATE:  # a stall (slow frame, busy computer, device hiccup)
            self._drop_pending(stale)
        frame, heard_index = self._pending[:FRAME], self._pending_at
        heard_at = self._clock.heard_at(heard_index)
        self._frame_heard_at = heard_at if self._clock.ready else None
        self._read_at = time.monotonic()
        self._drop_pending(FRAME, stale=False)
        if self.muted:
            return np.zeros(FRAME, np.float32)
        if self.echo is not None and self.echo.enabled:
            frame = self.echo.cancel(frame, self._played_at(heard_index))
        self._frame_echo_s = self._echo_s  # this frame's own delay in the canceller
        return frame

    def _take_capture(self) -> None:
        """The capture ring's audio onto _pending, at 24 kHz, with the time it was heard."""
        ring = self._capture
        first = ring.consumed  # ours alone to move: exact, whatever the callback writes
        heard = ring.read(ring.available())
        if heard.size == 0:
            return
        if self._to_engine is not None:
            heard = self._to_engine.resample_chunk(heard)
        self._clock.note(self._streams)
        if self._pending.size == 0:
            self._pending_at = first  # the microphone's sample index, at in_rate
        self._append(heard)

    def _append(self, heard: np.ndarray) -> None:
        self._pending = np.concatenate([self._pending, heard.astype(np.float32, copy=False)])

    def _drop_pending(self, n: int, stale: bool = True) -> None:
        self._pending = self._pending[n:]
        self._pending_at += n * self.in_rate / RATE
        if stale:
            self._stale += n

    def _played_at(self, heard_index: float) -> np.ndarray:
        """What the speaker played during the 80 ms the microphone heard from its sample
        `heard_index` on, at 24 kHz: the echo that can be in that frame comes from it."""
        start = self._clock.tape_index(heard_index)
        if start is None:
            return np.zeros(FRAME, np.float32)
        rate = self.out_rate
        if rate == RATE:
            return self._tape.read_at(round(start), FRAME)
        n = int(np.ceil(FRAME * rate / RATE)) + 2
        base = int(np.floor(start))
        played = self._tape.read_at(base, n)
        where = start - base + np.arange(FRAME) * rate / RATE
        return np.interp(where, np.arange(n), played).astype(np.float32)

    def write_frame(self, pcm: np.ndarray) -> None:
        """80 ms of the assistant at 24 kHz, to the speaker (at the set volume). A queue
        that stayed longer than the speaker needs for TRIM_FRAMES is shortened."""
        pcm = np.asarray(pcm, np.float32) * self.volume
        if self._to_device is not None:
            pcm = self._to_device.resample_chunk(pcm)
        self._keep_up()
        streams = self._streams
        if streams is not None and streams.pulse is not None:
            try:
                self._measure(streams.push(pcm))
            except PulseError:  # the device went away: read_frame notices and replaces it
                self._frame_heard_at = None
            return
        self._keep_queue_short()
        self._measure(self._tape.total + self._playback.available())
        self._playback.write(pcm)

    def _measure(self, index: int) -> None:
        """The delay the path adds to this reply: from when the microphone heard the
        frame's first sample to when the reply's first sample sounds (by PortAudio's
        clock: what the devices really hold, not their nominal latency), less the time
        the engine took, plus the echo canceller's own."""
        heard_at, self._frame_heard_at = self._frame_heard_at, None
        sounds_at = self._clock.played_at(index)
        engine_s = time.monotonic() - self._read_at  # the engine's own time is not ours
        if heard_at is not None and sounds_at is not None:
            self._delays.append(sounds_at - heard_at - engine_s + self._frame_echo_s)

    def _keep_up(self) -> None:
        """Reopen the speaker when the sound system's own queue for it has grown (after
        a storm of xruns it can hold a second, out of the playback ring's reach), and
        with larger blocks once small ones keep coming too late for this machine."""
        streams = self._streams
        if streams is None:
            return
        now = time.monotonic()
        if self._armed_at is None or now < self._armed_at:
            # Before the first reply, and while it starts playing, the speaker has had
            # nothing to play: its xruns and queue are not the machine's.
            self._armed_at = self._armed_at or now + ARM_S
            self._xrun_times_seen = streams.speaker_xruns
            return
        new = streams.speaker_xruns - self._xrun_times_seen
        self._xrun_times.extend([now] * new)
        self._xrun_times_seen = streams.speaker_xruns
        while self._xrun_times and now - self._xrun_times[0] > XRUN_WINDOW_S:
            self._xrun_times.popleft()
        if streams.out_ahead is not None:
            self._ahead.append(streams.out_ahead)
        nominal = streams.latency[1]
        crept = len(self._ahead) == self._ahead.maxlen and \
            min(self._ahead) > 2 * nominal + CREPT_S
        busy = len(self._xrun_times) >= XRUNS_TOO_MANY
        if crept or busy:
            self._xrun_times.clear()
            self._ahead.clear()
            try:
                streams.reopen_speaker(larger=busy)
            except self._sd.PortAudioError:
                self._recover()
                return
            self._armed_at = None
            if streams.pulse is None:  # the native speaker only took a larger margin
                self._clock = Clock(self.in_rate, self.out_rate)
            self._queued.clear()
            self._reopened += 1

    def _keep_queue_short(self) -> None:
        if self._streams is None:
            return
        self._queued.append(self._playback.available())
        need = round(self.out_rate * SLACK_S)
        excess = min(self._queued) - need
        if len(self._queued) == self._queued.maxlen and excess > 0:
            self._streams.skip(excess)
            self._trimmed += excess
            self._queued.clear()

    @property
    def _echo_s(self) -> float:
        return self.echo.delay_s if self.echo is not None and self.echo.enabled else 0.0

    @property
    def stats(self) -> AudioStats:
        latency = self._streams.latency if self._streams is not None else (0.0, 0.0)
        xruns = self._xruns + (self._streams.xruns if self._streams is not None else 0)
        in_rate, out_rate = self.in_rate or RATE, self.out_rate or RATE
        capture_ms = 1000 * (self._capture.available() / in_rate + self._pending.size / RATE)
        playback_ms = 1000 * self._playback.available() / out_rate
        trimmed = self._trimmed
        pulse = self._streams.pulse if self._streams is not None else None
        if pulse is not None:
            playback_ms += 1000 * pulse.queued_s
            trimmed += pulse.trimmed
        if self._delays:
            added = 1000 * sorted(self._delays)[len(self._delays) // 2]
        else:  # nothing measured yet: what the devices say, and the queue
            queued = min(self._queued) if self._queued else 0
            added = 1000 * (FRAME / RATE + sum(latency) + self._echo_s + queued / out_rate)
        return AudioStats(self._dropped[0] + self._capture.overruns,
                          self._dropped[1] + self._playback.underruns, xruns,
                          1000 * latency[1], 1000 * latency[0], capture_ms, playback_ms,
                          added_delay_ms=added,
                          stale_ms=1000 * self._stale / RATE,
                          trimmed_ms=1000 * trimmed / out_rate,
                          speaker_reopens=self._reopened)
