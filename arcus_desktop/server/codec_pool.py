"""Opus for every conversation, in worker processes: off the event loop's GIL.

sphn holds the GIL while it codes (PERFORMANCE.md), so in the server's process every
client's decode and encode ran on the event loop, next to the websockets and the batch
loop's thread. Here each conversation's OpusStreamReader and OpusStreamWriter live in
one of a few worker processes; the server only moves bytes: Ogg pieces and PCM frames
go out, PCM and Ogg come back, over one pipe each way per worker.

Order: one worker per conversation, and a worker answers in the order it was asked, so
a conversation's audio stays in order both ways. A worker that dies (EOF on its pipe)
fails only the conversations on it (an `internal` error); a new worker takes its
place for later conversations.

Wire, both ways: a head `<BII` (op, conversation id, payload length), then the payload.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import struct
import time
from collections import deque
from typing import Callable

import numpy as np

from ..audio.opus_length import RATE as OPUS_RATE
from ..audio.opus_length import ogg_samples
from .protocol import ProtocolError

log = logging.getLogger(__name__)
SAMPLE_RATE = 24000
HEAD = struct.Struct("<BII")
MAX_PAYLOAD = 1 << 20  # far above a 64 KiB message or a frame's PCM: anything more is a bug
MAX_QUEUED = 8 << 20  # bytes waiting for a worker that does not read: it is stuck
READ_BYTES = 1 << 20
# The most audio one piece of the client's Ogg may hold: a client sends 80 ms a message.
# Counted before decoding: a few bytes of Opus can stand for seconds (opus_length.py).
MAX_AUDIO_S = 1.0
MAX_SAMPLES = int(MAX_AUDIO_S * OPUS_RATE)
HOLD_S = 0.001  # a worker gathers answers this long at most, to write them at once
# ops, server to worker
OPEN, DECODE, ENCODE, CLOSE = 1, 2, 3, 4
# ops, worker to server
PCM, OGG, BAD_AUDIO = 11, 12, 13

OnPcm = Callable[[np.ndarray], None]
OnError = Callable[[ProtocolError], None]  # why the conversation must end


def default_workers() -> int:
    """Half the cores, 1 to 8. Opus costs little (40 clients: about one core in all), but
    a step's replies come as one burst, and each worker codes its conversations one after
    another: on an H100 host (16 cores, 40 clients) 8 workers added 15.0 ms p50 where 4
    added 18.5 (docs/PERFORMANCE.md). The workers mostly wait, so the batch loop, the
    event loop and torch keep their cores."""
    return max(1, min(8, (os.cpu_count() or 2) // 2))


class Codec:
    """One conversation's codecs. `decode` hands the client's Ogg over (the PCM comes to
    `on_pcm`, in order); `encode` gives the model's PCM and returns its Ogg bytes."""

    def decode(self, ogg: bytes) -> None:
        raise NotImplementedError

    async def encode(self, pcm: np.ndarray) -> bytes:
        raise NotImplementedError

    def close(self, error: ProtocolError | None = None) -> None:
        """Nothing more is decoded or encoded; `error` (why) is what encodes raise."""


class InlineCodec(Codec):
    """The codecs in the server's own process (`--codec-workers 0`): as before the pool."""

    def __init__(self, on_pcm: OnPcm, on_error: OnError) -> None:
        import sphn

        self._reader = sphn.OpusStreamReader(SAMPLE_RATE)
        self._writer = sphn.OpusStreamWriter(SAMPLE_RATE)
        self._on_pcm = on_pcm
        self._on_error = on_error
        self._failed = False

    def decode(self, ogg: bytes) -> None:
        if self._failed:
            return
        try:
            pcm = _decode(self._reader, ogg)
        except ValueError:
            self._failed = True
            self._on_error(_bad_audio())
            return
        if pcm.size:
            self._on_pcm(pcm)

    async def encode(self, pcm: np.ndarray) -> bytes:
        return self._writer.append_pcm(pcm)

    def close(self, error: ProtocolError | None = None) -> None:
        self._failed = True  # later pieces are dropped, as a worker drops a closed one's


class _PooledCodec(Codec):
    def __init__(self, worker: "_Worker", sid: int, on_pcm: OnPcm, on_error: OnError) -> None:
        self.worker = worker
        self.sid = sid
        self.on_pcm = on_pcm
        self.on_error = on_error
        self.encodes: deque[asyncio.Future] = deque()  # answered in order
        self.closed = False
        self.error: ProtocolError | None = None  # why it closed, when not by `close`

    def decode(self, ogg: bytes) -> None:
        if not self.closed:
            self.worker.send(DECODE, self.sid, ogg)

    async def encode(self, pcm: np.ndarray) -> bytes:
        if self.closed:
            raise self.error or ConnectionError("the codec is closed")
        done = asyncio.get_running_loop().create_future()
        self.encodes.append(done)
        self.worker.send(ENCODE, self.sid, np.ascontiguousarray(pcm, dtype=np.float32).tobytes())
        return await done

    def close(self, error: ProtocolError | None = None) -> None:
        if self.closed:
            return
        self.closed = True
        self.error = error
        self.worker.forget(self)
        self.worker.send(CLOSE, self.sid, b"")
        self._cancel()

    def fail(self, error: ProtocolError) -> None:
        """It cannot go on (its worker is gone, the audio is not Opus): the conversation's
        next `encode` raises `error`, and `on_error` hears it at once."""
        if not self.closed:
            self.closed = True
            self.error = error
            self.worker.forget(self)
            self._cancel()
            self.on_error(error)

    def _cancel(self) -> None:
        while self.encodes:
            done = self.encodes.popleft()
            if not done.done():
                done.set_exception(self.error or ConnectionError("the codec is closed"))


class _Worker:
    """One worker process, as seen from the event loop: its two pipes and conversations."""

    def __init__(self, ctx, loop: asyncio.AbstractEventLoop, on_dead: Callable[["_Worker"], None]) -> None:
        self.loop = loop
        self._on_dead = on_dead
        inbox_r, inbox_w = ctx.Pipe(duplex=False)
        outbox_r, outbox_w = ctx.Pipe(duplex=False)
        self.process = ctx.Process(target=_work, args=(inbox_r, outbox_w), name="arcus-codec", daemon=True)
        self.process.start()
        inbox_r.close()  # the child's ends: its death then reads as EOF here
        outbox_w.close()
        self._inbox, self._outbox = inbox_w, outbox_r
        self._out_fd, self._in_fd = inbox_w.fileno(), outbox_r.fileno()
        os.set_blocking(self._out_fd, False)
        os.set_blocking(self._in_fd, False)
        self.codecs: dict[int, _PooledCodec] = {}
        self.alive = True
        self._queued = bytearray()  # to the worker, not yet written
        self._flush_soon = False
        self._writing = False  # waiting for the pipe to take more
        self._received = bytearray()
        loop.add_reader(self._in_fd, self._readable)

    @property
    def pid(self) -> int | None:
        return self.process.pid

    # -- to the worker --------------------------------------------------------------------
    def send(self, op: int, sid: int, payload: bytes) -> None:
        if not self.alive:
            return
        self._queued += HEAD.pack(op, sid, len(payload))
        self._queued += payload
        if len(self._queued) > MAX_QUEUED:
            self.die("it stopped reading")
            return
        if not self._flush_soon and not self._writing:
            self._flush_soon = True  # one write for everything asked in this turn of the loop
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_soon = False
        if not self.alive:
            return
        try:
            while self._queued:
                written = os.write(self._out_fd, self._queued)
                del self._queued[:written]
        except BlockingIOError:
            if not self._writing:
                self._writing = True
                self.loop.add_writer(self._out_fd, self._writable)
            return
        except OSError:
            self.die("its pipe broke")
            return
        if self._writing:
            self._writing = False
            self.loop.remove_writer(self._out_fd)

    def _writable(self) -> None:
        self._flush()

    # -- from the worker ------------------------------------------------------------------
    def _readable(self) -> None:
        try:
            data = os.read(self._in_fd, READ_BYTES)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.die("it exited")
            return
        buf = self._received
        buf += data
        pos = 0
        while len(buf) - pos >= HEAD.size:
            op, sid, size = HEAD.unpack_from(buf, pos)
            if len(buf) - pos - HEAD.size < size:
                break
            start = pos + HEAD.size
            payload = bytes(buf[start:start + size])
            pos = start + size
            self._answer(op, sid, payload)
            if not self.alive:
                return
        del buf[:pos]

    def _answer(self, op: int, sid: int, payload: bytes) -> None:
        codec = self.codecs.get(sid)
        if codec is None:  # closed meanwhile
            return
        if op == PCM:
            codec.on_pcm(np.frombuffer(payload, dtype=np.float32))
        elif op == OGG:
            if codec.encodes:
                done = codec.encodes.popleft()
                if not done.done():
                    done.set_result(payload)
        elif op == BAD_AUDIO:
            codec.fail(_bad_audio())

    # -- conversations and the end ----------------------------------------------------------
    def forget(self, codec: _PooledCodec) -> None:
        self.codecs.pop(codec.sid, None)

    def die(self, why: str) -> None:
        """The worker is gone (or useless): fail its conversations, free its pipes."""
        if not self.alive:
            return
        self.alive = False
        log.error("audio worker %s stopped (%s); its %d conversations end", self.pid, why, len(self.codecs))
        self._unhook()
        if self.process.is_alive():
            self.process.kill()
        for codec in list(self.codecs.values()):
            codec.fail(ProtocolError("internal", "The server's audio worker stopped. Connect "
                                     "again to start afresh."))
        self.codecs.clear()
        self._on_dead(self)

    def _unhook(self) -> None:
        self.loop.remove_reader(self._in_fd)
        if self._writing:
            self.loop.remove_writer(self._out_fd)
            self._writing = False
        self._inbox.close()
        self._outbox.close()

    def stop(self, timeout: float) -> None:
        """Closing its inbox tells it to exit; killed if it has not within `timeout`."""
        if self.alive:
            self.alive = False
            self._unhook()
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout)


class CodecPool:
    """`workers` processes, started with `start` (on the server's event loop), stopped
    with `close`; `workers` 0 keeps the codecs in the server's process."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = default_workers() if workers is None else workers
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ctx = multiprocessing.get_context("spawn")
        self._live: list[_Worker] = []
        self._next_sid = 0
        self._closed = False

    @property
    def pids(self) -> list[int]:
        return [w.pid for w in self._live if w.pid is not None]

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        while len(self._live) < self.workers:
            self._live.append(_Worker(self._ctx, loop, self._dead))

    def open(self, on_pcm: OnPcm, on_error: OnError) -> Codec:
        """A conversation's codecs, on the worker with the fewest conversations. Call on
        the event loop."""
        if self.workers == 0 or self._loop is None or self._closed:
            return InlineCodec(on_pcm, on_error)
        try:
            self.start(self._loop)  # replaces workers that died
        except OSError as e:  # out of processes or descriptors: code here rather than fail
            log.error("cannot start an audio worker (%s); coding in the server's process", e)
        if not self._live:
            return InlineCodec(on_pcm, on_error)
        worker = min(self._live, key=lambda w: len(w.codecs))
        self._next_sid = (self._next_sid + 1) & 0xFFFFFFFF
        codec = _PooledCodec(worker, self._next_sid, on_pcm, on_error)
        worker.codecs[codec.sid] = codec
        worker.send(OPEN, codec.sid, b"")
        return codec

    def _dead(self, worker: _Worker) -> None:
        if worker in self._live:
            self._live.remove(worker)

    def close(self, timeout: float = 5.0) -> None:
        """Stop every worker (their conversations are over by now); none is left behind."""
        self._closed = True  # a conversation still starting codes in this process
        live, self._live = self._live, []
        for worker in live:
            if worker.alive:
                worker.alive = False
                worker._unhook()
        for worker in live:
            worker.stop(timeout)


def _decode(reader, ogg: bytes) -> np.ndarray:
    """The PCM of a piece of the client's Ogg. ValueError: not Opus, or over MAX_AUDIO_S
    (counted before decoding, so never decoded)."""
    if ogg_samples(ogg) > MAX_SAMPLES:
        raise ValueError("too much audio in one piece")
    return reader.append_bytes(ogg)


def _bad_audio() -> ProtocolError:
    return ProtocolError("bad_audio", "The audio is not an Ogg/Opus stream.")


# -- the worker process ----------------------------------------------------------------------
def _work(inbox, outbox) -> None:
    # Ctrl+C reaches the terminal's whole process group: the server drains on it and
    # still needs its codecs. The server ends a worker by closing its inbox.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import sphn

    in_fd, out_fd = inbox.fileno(), outbox.fileno()
    readers: dict[int, object] = {}
    writers: dict[int, object] = {}
    buf = bytearray()
    replies = bytearray()  # answers not yet written: one write wakes the server once
    while True:
        data = os.read(in_fd, READ_BYTES)
        if not data:
            return
        buf += data
        pos = 0
        since = 0.0  # when the oldest unwritten answer was ready
        while len(buf) - pos >= HEAD.size:
            op, sid, size = HEAD.unpack_from(buf, pos)
            if size > MAX_PAYLOAD:
                raise SystemExit(f"a message of {size} bytes")
            if len(buf) - pos - HEAD.size < size:
                break
            start = pos + HEAD.size
            payload = bytes(buf[start:start + size])
            pos = start + size
            reply = _handle(op, sid, payload, readers, writers, sphn)
            if reply:
                if not replies:
                    since = time.monotonic()
                replies += reply
                if time.monotonic() - since > HOLD_S:  # the first answer waited long enough
                    _write_all(out_fd, replies)
                    replies.clear()
        del buf[:pos]
        if replies:
            _write_all(out_fd, replies)
            replies.clear()


def _handle(op: int, sid: int, payload: bytes, readers: dict, writers: dict, sphn) -> bytes:
    if op == OPEN:
        readers[sid] = sphn.OpusStreamReader(SAMPLE_RATE)
        writers[sid] = sphn.OpusStreamWriter(SAMPLE_RATE)
    elif op == CLOSE:
        readers.pop(sid, None)
        writers.pop(sid, None)
    elif op == DECODE and sid in readers:
        try:
            pcm = _decode(readers[sid], payload)
        except ValueError:
            del readers[sid]  # later pieces of this stream are dropped
            return HEAD.pack(BAD_AUDIO, sid, 0)
        if pcm.size:
            raw = np.ascontiguousarray(pcm, dtype=np.float32).tobytes()
            return HEAD.pack(PCM, sid, len(raw)) + raw
    elif op == ENCODE and sid in writers:
        ogg = writers[sid].append_pcm(np.frombuffer(payload, dtype=np.float32))
        return HEAD.pack(OGG, sid, len(ogg)) + ogg
    return b""


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
