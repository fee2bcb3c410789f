"""The speaker as a native PulseAudio stream (libpulse through ctypes), written the moment
a reply exists: through PortAudio and ALSA's pulse plugin the reply waited for the next
10 ms callback and then behind two blocks, ~24 ms; here it waits behind what is still
queued, which is kept at a small margin (bench/audio_latency.py measures it).

The stream asks for early requests, so the sink's own latency follows the small request
size while the stream's buffer holds whole 80 ms frames. A stream that ran dry pauses
(prebuffering) and starts again with the next write, a margin of silence ahead of it;
a margin that keeps running dry grows (`larger`). Used where a PulseAudio server (or
PipeWire's) answers; everywhere else the speaker stays PortAudio's (audio/streams.py).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
import time
from collections import deque

import numpy as np

# Kept queued ahead of each reply; the next after repeated runs dry (a busy machine, or
# a microphone that hands over audio in large lumps, as PipeWire's 21 ms quantum).
MARGINS_S = (0.01, 0.02, 0.04)
MIN_REQUEST_S = 0.005  # the sink follows it (early requests): the device's own latency
BUFFER_S = 2.0  # the stream's buffer at most (a reply that waits longer is dropped)
CONNECT_S = 2.0  # a server that does not answer within this is treated as absent
TRIM_FRAMES = 8  # a queue above the margin for this many writes in a row is shortened
SLACK_S = 0.003

# libpulse's constants (pulse/def.h, pulse/sample.h)
_FLOAT32LE = 5
_CONTEXT_NOAUTOSPAWN = 1
_CONTEXT_READY, _CONTEXT_FAILED, _CONTEXT_TERMINATED = 4, 5, 6
_STREAM_READY, _STREAM_FAILED, _STREAM_TERMINATED = 2, 3, 4
_AUTO_TIMING_UPDATE, _EARLY_REQUESTS = 8, 16384
_NO_VALUE = 0xFFFFFFFF


class PulseError(OSError):
    """The server is absent, refused the stream, or the stream failed."""


class _Spec(ctypes.Structure):
    _fields_ = [("format", ctypes.c_int), ("rate", ctypes.c_uint32), ("channels", ctypes.c_uint8)]


class _Attr(ctypes.Structure):
    _fields_ = [(n, ctypes.c_uint32) for n in ("maxlength", "tlength", "prebuf", "minreq",
                                                 "fragsize")]


class _Timing(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long),
                ("synchronized_clocks", ctypes.c_int), ("sink_usec", ctypes.c_uint64),
                ("source_usec", ctypes.c_uint64), ("transport_usec", ctypes.c_uint64),
                ("playing", ctypes.c_int), ("write_index_corrupt", ctypes.c_int),
                ("write_index", ctypes.c_int64), ("read_index_corrupt", ctypes.c_int),
                ("read_index", ctypes.c_int64), ("configured_sink_usec", ctypes.c_uint64),
                ("configured_source_usec", ctypes.c_uint64), ("since_underrun", ctypes.c_int64)]


_NOTIFY = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)
_lib = None


def _library():
    """libpulse with the signatures used here, or None where it is not installed."""
    global _lib
    if _lib is None:
        name = ctypes.util.find_library("pulse")
        try:
            lib = ctypes.CDLL(name or "libpulse.so.0")
        except OSError:
            _lib = False
            return None
        p, i, u32, sz = ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32, ctypes.c_size_t
        for fn, res, args in (
                ("pa_threaded_mainloop_new", p, []), ("pa_threaded_mainloop_start", i, [p]),
                ("pa_threaded_mainloop_stop", None, [p]), ("pa_threaded_mainloop_free", None, [p]),
                ("pa_threaded_mainloop_lock", None, [p]), ("pa_threaded_mainloop_unlock", None, [p]),
                ("pa_threaded_mainloop_get_api", p, [p]),
                ("pa_context_new", p, [p, ctypes.c_char_p]),
                ("pa_context_connect", i, [p, ctypes.c_char_p, i, p]),
                ("pa_context_get_state", i, [p]), ("pa_context_set_state_callback", None, [p, _NOTIFY, p]),
                ("pa_context_errno", i, [p]), ("pa_context_disconnect", None, [p]),
                ("pa_context_unref", None, [p]), ("pa_strerror", ctypes.c_char_p, [i]),
                ("pa_stream_new", p, [p, ctypes.c_char_p, p, p]),
                ("pa_stream_connect_playback", i, [p, ctypes.c_char_p, p, u32, p, p]),
                ("pa_stream_get_state", i, [p]), ("pa_stream_set_state_callback", None, [p, _NOTIFY, p]),
                ("pa_stream_set_underflow_callback", None, [p, _NOTIFY, p]),
                ("pa_stream_write", i, [p, p, sz, p, ctypes.c_int64, i]),
                ("pa_stream_update_timing_info", p, [p, p, p]),
                ("pa_operation_unref", None, [p]),
                ("pa_stream_get_timing_info", ctypes.POINTER(_Timing), [p]),
                ("pa_stream_disconnect", i, [p]), ("pa_stream_unref", None, [p])):
            f = getattr(lib, fn)
            f.restype, f.argtypes = res, args
        _lib = lib
    return _lib or None


class _Locked:
    """libpulse's calls on a threaded mainloop's objects go under its lock."""

    def __init__(self, lib, loop) -> None:
        self._lib, self._loop = lib, loop

    def __enter__(self) -> None:
        self._lib.pa_threaded_mainloop_lock(self._loop)

    def __exit__(self, *exc) -> None:
        self._lib.pa_threaded_mainloop_unlock(self._loop)


class PulseSpeaker:
    """A playback stream at `rate` (mono float) on the server's sink `device` (its own
    name; None for the default sink). `write` queues audio and puts it on `tape` (the
    echo canceller's reference) with silence where the stream ran dry, and stamps it on
    `clock` (a callable giving the microphone stream's time, so both stamps share it).
    PulseError when no server answers or the stream will not open."""

    def __init__(self, rate: int, device: str | None, tape, clock) -> None:
        lib = _library()
        if lib is None:
            raise PulseError("libpulse is not installed")
        self.rate, self._tape, self._now = rate, tape, clock
        self._lib = lib
        self.margin_s = MARGINS_S[0]
        self.underflows = 0
        self.stamp: tuple[int, float] | None = None  # (tape index, time it sounds)
        self._ahead: deque[float] = deque(maxlen=TRIM_FRAMES)  # queued before recent writes
        self.trimmed = 0  # samples dropped from replies to shorten the queue
        self._written = 0  # samples written into the stream
        self._changed = threading.Event()
        # ctypes callbacks must outlive the stream: held here
        self._on_change = _NOTIFY(lambda *_: self._changed.set())
        self._on_underflow = _NOTIFY(lambda *_: self._count_underflow())
        self._loop = self._context = self._stream = None
        try:
            self._open(device)
        except BaseException:
            self.close()
            raise

    def _count_underflow(self) -> None:
        self.underflows += 1

    def _open(self, device: str | None) -> None:
        lib = self._lib
        self._loop = lib.pa_threaded_mainloop_new()
        if not self._loop:
            raise PulseError("libpulse could not start")
        self._context = lib.pa_context_new(lib.pa_threaded_mainloop_get_api(self._loop),
                                           b"Arcus Desktop")
        lib.pa_context_set_state_callback(self._context, self._on_change, None)
        if lib.pa_context_connect(self._context, None, _CONTEXT_NOAUTOSPAWN, None) < 0:
            raise PulseError(self._error("no sound server"))
        if lib.pa_threaded_mainloop_start(self._loop) < 0:
            raise PulseError("libpulse could not start")
        self._wait(lambda: lib.pa_context_get_state(self._context), _CONTEXT_READY,
                   (_CONTEXT_FAILED, _CONTEXT_TERMINATED), "no sound server answered")
        spec = _Spec(_FLOAT32LE, self.rate, 1)
        b = self._bytes
        attr = _Attr(b(BUFFER_S), b(BUFFER_S / 4), 4, b(MIN_REQUEST_S), _NO_VALUE)
        with self._locked():
            self._stream = lib.pa_stream_new(self._context, b"Arcus", ctypes.byref(spec), None)
            if not self._stream:
                raise PulseError(self._error("the speaker's stream was refused"))
            lib.pa_stream_set_state_callback(self._stream, self._on_change, None)
            lib.pa_stream_set_underflow_callback(self._stream, self._on_underflow, None)
            flags = _AUTO_TIMING_UPDATE | _EARLY_REQUESTS
            sink = device.encode() if device else None
            if lib.pa_stream_connect_playback(self._stream, sink, ctypes.byref(attr), flags,
                                              None, None) < 0:
                raise PulseError(self._error("the speaker's stream was refused"))
        self._wait(lambda: lib.pa_stream_get_state(self._stream), _STREAM_READY,
                   (_STREAM_FAILED, _STREAM_TERMINATED), "the speaker would not open")

    def _bytes(self, seconds: float) -> int:
        return 4 * round(self.rate * seconds)

    def _locked(self) -> "_Locked":
        return _Locked(self._lib, self._loop)

    def _wait(self, state, ready: int, failed: tuple[int, ...], why: str) -> None:
        """Until state() is `ready` (the callback sets _changed), CONNECT_S at most."""
        deadline = time.monotonic() + CONNECT_S
        while True:
            self._changed.clear()
            with self._locked():
                now = state()
            if now == ready:
                return
            if now in failed:
                raise PulseError(self._error(why))
            if not self._changed.wait(max(0.0, deadline - time.monotonic())):
                raise PulseError(why)

    def _error(self, why: str) -> str:
        if not self._context:
            return why
        text = self._lib.pa_strerror(self._lib.pa_context_errno(self._context))
        return f"{why}: {text.decode(errors='replace')}" if text else why

    # -- the engine's thread ---------------------------------------------------------------

    @property
    def active(self) -> bool:
        if not self._stream:
            return False
        with self._locked():
            return self._lib.pa_stream_get_state(self._stream) == _STREAM_READY

    def _queued(self) -> tuple[float, float] | None:
        """(seconds of what was written still in the stream's buffer, the sink's own
        latency); None before the server's first timing report. Under the lock.

        From the server's report asked for after the last write (≤ one frame old), run on
        at the stream's rate while it was playing: libpulse's own interpolation read 0
        for the stream's first ~0.4 s here, and its automatic reports grow 1.5 s apart."""
        timing = self._lib.pa_stream_get_timing_info(self._stream)
        if not timing:
            return None
        t = timing.contents
        if t.read_index_corrupt:
            return None
        read = t.read_index / 4
        if t.playing:
            read += max(0.0, time.time() - (t.tv_sec + t.tv_usec / 1e6)) * self.rate
        return max(0.0, self._written - read) / self.rate, t.sink_usec / 1e6

    def _report(self) -> tuple[float, float]:
        """_queued() from another call than write: (0, 0) when there is none yet."""
        if not self._stream:
            return 0.0, 0.0
        with self._locked():
            return self._queued() or (0.0, 0.0)

    @property
    def latency(self) -> float:
        """What a reply waits before it sounds: the margin and the sink's latency."""
        return self.margin_s + self._report()[1]

    @property
    def queued_s(self) -> float:
        """Reply audio in the stream's buffer now, seconds."""
        return self._report()[0]

    def write(self, pcm: np.ndarray) -> int:
        """Queue `pcm` to sound as soon as it can; the tape index its first sample went to.
        PulseError when the stream has failed (its device went away, the server died)."""
        pcm = np.ascontiguousarray(pcm, np.float32)
        lib = self._lib
        with self._locked():
            if lib.pa_stream_get_state(self._stream) != _STREAM_READY:
                raise PulseError(self._error("the speaker stopped"))
            now = self._now()
            queued = self._queued()
            ahead, sink = queued if queued else (0.0, 0.0)
            head, cut = np.zeros(0, np.float32), 0
            if ahead < self.margin_s:  # ran dry (or nearly): the margin goes first
                head = np.zeros(round((self.margin_s - ahead) * self.rate), np.float32)
                self._ahead.clear()
            else:
                self._ahead.append(ahead)
                excess = min(self._ahead) - self.margin_s - SLACK_S
                if len(self._ahead) == self._ahead.maxlen and excess > 0:
                    # Stayed longer than needed (a burst of replies after a stall): this
                    # reply overwrites the excess at the queue's end, not yet played.
                    cut = round(excess * self.rate)
                    self._ahead.clear()
            data = np.concatenate([head, pcm]) if head.size else pcm
            if lib.pa_stream_write(self._stream, data.ctypes.data, data.nbytes, None,
                                   -4 * cut, 0) < 0:
                raise PulseError(self._error("the speaker stopped"))
            self._written += data.size - cut
            self.trimmed += cut
            asked = lib.pa_stream_update_timing_info(self._stream, None, None)  # for the next
            if asked:
                lib.pa_operation_unref(asked)
        # The tape runs on the speaker's time: what played while the stream was dry
        # (silence) goes on it too, so its index keeps matching the clock.
        sounds_at = now + sink + ahead - cut / self.rate
        self._tape.rewind(cut)
        if self.stamp is not None:
            index, at = self.stamp
            gap = round((sounds_at - at) * self.rate) - (self._tape.total - index)
            if 0 < gap < self.rate:
                self._tape.write(np.zeros(gap, np.float32))
        self.stamp = (self._tape.total, sounds_at)
        start = self._tape.total + head.size
        self._tape.write(data)
        return start

    def larger(self) -> bool:
        """Keep a larger margin (the replies keep running dry); False at the largest."""
        bigger = [m for m in MARGINS_S if m > self.margin_s]
        if bigger:
            self.margin_s = bigger[0]
        return bool(bigger)

    def close(self) -> None:
        lib = self._lib
        if self._loop:
            with self._locked():
                if self._stream:
                    lib.pa_stream_disconnect(self._stream)
                    lib.pa_stream_unref(self._stream)
                if self._context:
                    lib.pa_context_disconnect(self._context)
                    lib.pa_context_unref(self._context)
            lib.pa_threaded_mainloop_stop(self._loop)
            lib.pa_threaded_mainloop_free(self._loop)
        self._loop = self._context = self._stream = None
