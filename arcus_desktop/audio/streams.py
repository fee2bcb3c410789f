"""The microphone and the speaker as two PortAudio streams, each on its own callback.

Two streams, not one duplex stream: a duplex stream reads the microphone only as fast as
the speaker drains, so audio that piled up while it started late (or stalled) stays
queued in the sound system for good, out of our reach. Apart, the input callback hands
over whatever the microphone has, and DuplexAudio drops what is stale.

The callbacks only copy and stamp: the microphone into the capture ring, the speaker's
block out of the playback ring and onto the tape (the echo canceller's reference), each
with PortAudio's time for its first sample.

Where the speaker is the sound server's (PulseAudio or PipeWire answers, and the speaker
is its default or one of its devices), it is a native stream instead (audio/pulse_out.py),
written by `push` the moment a reply exists rather than pulled 10 ms at a time through
ALSA's pulse plugin: ~12 ms less delay on the rig of bench/audio_latency.py."""

from __future__ import annotations

import threading
import time

from . import pulse_out
from .devices import reaching
from .ring import Ring
from .tape import Tape

RATE = 24_000  # the engine's rate: asked of the devices first (see pick_rate)
BLOCK_S = 0.01  # the microphone's blocks (the sound server hands them over 20 ms at a time)
# The speaker's blocks: PortAudio keeps about two queued, so they are most of the output
# delay. The smallest first; a machine too busy to call back in time (xruns) gets the
# next size (DuplexAudio.write_frame). Not 5 ms: through ALSA's pulse plugin even a
# moderately busy machine then fell into storms of hundreds of xruns (each a reconnect
# of the stream), measured on this rig with bench/audio_latency.py.
SPEAKER_BLOCKS_S = (0.01, 0.02)
CLOSE_S = 3.0  # a stream that takes longer to close is stuck in the sound system's library


def pick_rate(sd, device: int | None, kind: str) -> int:
    """24 kHz where the device takes it: a sound server (PulseAudio, PipeWire, CoreAudio,
    Windows' audio engine) resamples anyway, with less delay than a second resampler of
    ours would add. Otherwise the device's own rate, and DuplexAudio resamples."""
    check = sd.check_input_settings if kind == "input" else sd.check_output_settings
    try:
        check(device=device, channels=1, dtype="float32", samplerate=RATE,
              extra_settings=_extra(sd, device, kind))
        return RATE
    except (sd.PortAudioError, ValueError):
        return int(sd.query_devices(device, kind)["default_samplerate"])


def _extra(sd, device: int | None, kind: str):
    """Windows' shared mode takes other rates only when asked to convert them."""
    info = sd.query_devices(device, kind)
    if "WASAPI" in sd.query_hostapis(info["hostapi"])["name"] and hasattr(sd, "WasapiSettings"):
        return sd.WasapiSettings(auto_convert=True)
    return None


class Streams:
    """Open (not started) on `inp` and `out` (PortAudio indices, None for the default).
    `capture` and `playback` are at in_rate and out_rate; `tape` gets every block the
    speaker is given (silence included) at out_rate."""

    def __init__(self, sd, inp, out, in_rate: int, out_rate: int, capture: Ring,
                 playback: Ring, tape: Tape, speaker_block_s: float = SPEAKER_BLOCKS_S[0]
                 ) -> None:
        self.in_rate, self.out_rate = in_rate, out_rate
        self._capture, self._playback, self._tape = capture, playback, tape
        self._sd, self._out = sd, out
        self.xruns = 0
        self.speaker_xruns = 0
        self.calls = [0, 0]  # callbacks so far: input, output
        self.restarted_at = [0, 0]  # the count at each stream's last xrun
        # (index of the block's first sample, PortAudio time it was heard / will sound)
        self.in_stamp: tuple[int, float] | None = None
        self._out_stamp: tuple[int, float] | None = None
        self.out_ahead: float | None = None  # how far ahead the speaker's queue runs, s
        self._skip_asked = self._skip_done = 0  # playback samples to drop (see skip())
        self._offset = 0.0  # PortAudio's time less time.monotonic(), from the callbacks
        self._underflows = 0  # of the native speaker, counted into xruns so far
        with reaching(inp, "input"):
            self._input = sd.InputStream(samplerate=in_rate, channels=1, dtype="float32",
                                         device=inp, blocksize=round(in_rate * BLOCK_S),
                                         latency="low", extra_settings=_extra(sd, inp, "input"),
                                         callback=self._heard)
        self.pulse = self._output = None
        try:
            self.pulse = self._native(out)
            if self.pulse is None:
                self._output = self._speaker(speaker_block_s)
        except BaseException:
            self._input.close(ignore_errors=True)
            raise

    def _native(self, out) -> "pulse_out.PulseSpeaker | None":
        """The sound server's own stream for the speaker, where one answers and the
        speaker is its default or one of its devices; None otherwise."""
        server_name = getattr(out, "server_name", "")
        if out is not None and not server_name:
            return None
        try:
            speaker = pulse_out.PulseSpeaker(self.out_rate, server_name or None, self._tape,
                                             lambda: time.monotonic() + self._offset)
        except pulse_out.PulseError:
            return None
        self.speaker_block_s = speaker.margin_s
        return speaker

    def _speaker(self, block_s: float):
        self.speaker_block_s = block_s
        with reaching(self._out, "output"):
            return self._sd.OutputStream(
                samplerate=self.out_rate, channels=1, dtype="float32", device=self._out,
                blocksize=round(self.out_rate * block_s), latency="low",
                extra_settings=_extra(self._sd, self._out, "output"), callback=self._play)

    def reopen_speaker(self, larger: bool) -> None:
        """Reopen the speaker (the microphone runs on): what the sound system queued for
        it is gone. With `larger`, at the next block size if there is one.
        PortAudioError if it will not reopen."""
        if self.pulse is not None:  # written, not called back: a larger margin instead
            if larger and self.pulse.larger():
                self.speaker_block_s = self.pulse.margin_s
            return
        sizes = [b for b in SPEAKER_BLOCKS_S if b > self.speaker_block_s] if larger else []
        if not _close_all([self._output], drain=False):
            raise self._sd.PortAudioError("the speaker's stream would not close")
        self._output = self._speaker(sizes[0] if sizes else self.speaker_block_s)
        self.restarted_at[1] = self.calls[1]
        self.out_ahead = None
        if self._input.active:
            self._output.start()

    # -- PortAudio's threads: copy, stamp, count ----------------------------------------

    def _heard(self, indata, frames, when, status) -> None:
        self.calls[0] += 1
        if status.input_overflow:
            self.xruns += 1
            self.restarted_at[0] = self.calls[0]
        at = when.inputBufferAdcTime or when.currentTime - self._input.latency
        if when.currentTime:
            self._offset = when.currentTime - time.monotonic()
        if self.pulse is not None:  # its failures show as inactive, not as missing calls
            self.calls[1] = self.calls[0]
        self.in_stamp = (self._capture.written, at)
        self._capture.write(indata[:, 0])

    def _play(self, outdata, frames, when, status) -> None:
        self.calls[1] += 1
        if status.output_underflow:
            self.xruns += 1
            self.speaker_xruns += 1
            self.restarted_at[1] = self.calls[1]
        asked = self._skip_asked
        if asked != self._skip_done:  # what was not there to drop is forgotten
            self._playback.skip(asked - self._skip_done)
            self._skip_done = asked
        self._playback.read_into(outdata[:, 0])
        at = when.outputBufferDacTime or when.currentTime + self._output.latency
        self._out_stamp = (self._tape.total, at)
        self.out_ahead = at - when.currentTime if when.currentTime else None
        self._tape.write(outdata[:, 0])

    # -- the reader's side ---------------------------------------------------------------

    def push(self, pcm) -> int:
        """The native speaker's reply (see pulse_out): queued at once; its tape index.
        PulseError when the stream has failed."""
        start = self.pulse.write(pcm)
        self._out_stamp = self.pulse.stamp
        new, self._underflows = self.pulse.underflows - self._underflows, self.pulse.underflows
        self.xruns += new
        self.speaker_xruns += new
        return start

    @property
    def out_stamp(self) -> tuple[int, float] | None:
        """The speaker's newest stamp. The native speaker's are exact but come once a
        reply (80 ms): each read gives a new one on the same line, so audio.Clock, which
        counts stamps, is ready as soon as with PortAudio's 10 ms callbacks."""
        stamp = self._out_stamp
        return (stamp[0], stamp[1]) if self.pulse is not None and stamp is not None else stamp

    def skip(self, n: int) -> None:
        """Drop the oldest `n` queued playback samples, at the speaker's next block."""
        self._skip_asked += n

    @property
    def latency(self) -> tuple[float, float]:
        """PortAudio's own input and output latency (the native speaker's), seconds."""
        out = self.pulse.latency if self.pulse is not None else self._output.latency
        return self._input.latency, out

    @property
    def active(self) -> bool:
        speaker = self.pulse if self.pulse is not None else self._output
        return self._input.active and speaker.active

    def start(self) -> None:
        if self._output is not None:
            self._output.start()
        try:
            self._input.start()
        except BaseException:
            if self._output is not None:
                self._output.abort(ignore_errors=True)
            raise

    def close(self, drain: bool) -> bool:
        """Close both; False if stuck (see _close_all)."""
        if self.pulse is not None:
            return _close_all([self._input], drain, also=self.pulse.close)
        return _close_all([self._input, self._output], drain)


def _close_all(streams, drain: bool, also=None) -> bool:
    """Close from a helper thread, waiting CLOSE_S at most: when the sound server dies,
    libpulse can deadlock inside PortAudio's abort (seen with the ALSA pulse plugin), and
    the engine's thread must not hang with it. False if stuck."""

    def shut():
        for stream in streams:
            if drain:
                stream.stop(ignore_errors=True)
            else:
                stream.abort(ignore_errors=True)  # a broken device may never drain
            stream.close(ignore_errors=True)
        if also is not None:
            also()

    closer = threading.Thread(target=shut, name="arcus-audio-close", daemon=True)
    closer.start()
    closer.join(CLOSE_S)
    return not closer.is_alive()
