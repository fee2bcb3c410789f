"""One websocket conversation: the client's Opus in, the model's Opus and text out.

Two tasks per conversation: `run` (persona, handshake, then everything sent) and
`_receive` (everything the client sends). The engine's thread reports through
`_Bridge` into one queue that `run` reads, so the engine never waits on a client.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time
from collections import deque
from itertools import accumulate
from typing import TYPE_CHECKING

from aiohttp import WSMsgType, web

from ..audio.ogg import PageSplitter
from ..audio.opus_length import ogg_samples
from . import protocol as P
from .codec_pool import MAX_AUDIO_S, MAX_SAMPLES
from .rate import Bucket

if TYPE_CHECKING:
    from .app import Server

log = logging.getLogger(__name__)
SAMPLE_RATE = 24000
FRAME_SIZE = 1920
STATS_EVERY = 25  # frames (2 s)
CLOSE_WAIT_S = 5.0
# After the watchdog's own error, how long the conversation may take to end before its
# connection is cut: longer than telling the client (CLOSE_WAIT_S) and closing (as long).
END_WAIT_S = 2 * CLOSE_WAIT_S + 2


class _Bridge:
    """The slot's sink: engine thread to this conversation's event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, events: asyncio.Queue) -> None:
        self._loop = loop
        self._events = events

    def _post(self, kind: str, value) -> None:
        self._loop.call_soon_threadsafe(self._events.put_nowait, (kind, value))

    def ready(self, info) -> None:
        self._post("ready", info)

    def frame(self, frame) -> None:
        self._post("frame", frame)

    def failed(self, error: BaseException) -> None:
        self._post("failed", error)


class Session:
    def __init__(self, server: "Server", ws: web.WebSocketResponse, request: web.Request) -> None:
        self.server = server
        self.ws = ws
        self.request = request
        self.id = secrets.token_hex(4)
        self.slot = None
        self.events: asyncio.Queue = asyncio.Queue()
        self.extensions = False
        self.sampling = None
        self._heard = PageSplitter()  # the client's Ogg, a page at a time to the decoder
        self._pages = PageSplitter()  # ours, a page per message (PROTOCOL.md)
        self._waits: deque[float] = deque(maxlen=STATS_EVERY)  # ms, this client's frames
        limits = server.config.limits
        now = asyncio.get_running_loop().time()
        self._messages = Bucket(limits.messages_per_s, limits.burst_s, now)
        self._bytes = Bucket(limits.bytes_per_s, limits.burst_s, now)
        self._max_backlog = int(limits.backlog_s * SAMPLE_RATE / FRAME_SIZE)
        self._last_audio: float | None = None  # set at the handshake
        self._ping_sent: float | None = None  # the ping not yet answered
        self._ping_payload = b""  # random: a pong that was not asked for clears nothing
        self._dropped = False
        self._ping_task: asyncio.Future | None = None
        self._receiver: asyncio.Task | None = None

    # -- the conversation -------------------------------------------------------------------
    async def run(self) -> None:
        receiver = watchdog = None
        # Opus in a worker process (codec_pool.py): off this event loop's GIL.
        self._codec = self.server.codecs.open(self._on_pcm, self._on_codec_error)
        try:
            watch = getattr(self.request.protocol, "watch_frames", None)  # gate.Handler's
            if watch is not None:
                watch(self.server.config.limits, self._flooded)
            self.extensions = self.request.query.get("arcus", "") == "1"
            chat = P.parse_chat(self.request.query)
            self.slot = self.server.take_slot()
            receiver = self._receiver = asyncio.create_task(self._receive())
            watchdog = asyncio.create_task(self._watch())
            prepared = await asyncio.to_thread(self.server.prepare, chat)
            self.sampling = self.server.sampling(chat.sampling)
            self.slot.start(prepared, self.sampling, _Bridge(asyncio.get_running_loop(), self.events))
            await self._converse(prepared, chat)
        except P.ProtocolError as e:
            self.server.count_refusal(e.code)
            await self._close(e.code, e.message)
        except (ConnectionError, asyncio.CancelledError):
            pass  # the client went away, or the server is stopping
        except Exception as e:  # one conversation's failure never reaches the others
            log.exception("conversation %s failed", self.id)
            await self._close("internal", f"The server failed ({type(e).__name__}).")
        finally:
            self._codec.close()
            if self.slot is not None:
                self.slot.close()
            for task in (receiver, watchdog, self._ping_task):
                if task is not None:
                    task.cancel()
            if not self.ws.closed:
                await self._close_ws(1000, "")

    async def _converse(self, prepared, chat: P.ChatRequest) -> None:
        while True:
            kind, value = await self.events.get()
            if kind == "frame":
                await self._send_frame(value)
            elif kind == "ready":
                self._last_audio = asyncio.get_running_loop().time()
                await self._send(bytes([P.HANDSHAKE]))
                self.server.count_start()
                if self.extensions:
                    await self._send(P.metadata(self._session_event(prepared, value)))
            elif kind == "failed":
                log.error("conversation %s failed in the engine: %r", self.id, value)
                raise P.ProtocolError("internal", _failure_text(value))
            elif kind == "error":
                raise value
            elif kind == "gone":
                return

    async def _send_frame(self, frame) -> None:
        # One Ogg page per message: sphn 0.1.x clients decode one page per message.
        for page in self._pages.pages(await self._codec.encode(frame.pcm)):
            await self._send(P.audio(page))
        if frame.piece is not None:
            await self._send(P.text(frame.piece))
        if not self.extensions:
            return
        self._waits.append(frame.wait_ms)
        if frame.user_piece is not None:
            await self._send(P.metadata({
                "type": "user_text", "text": frame.user_piece.replace("\u2581", " "),
                "start": round(frame.user_time, 3)}))
        if (frame.index + 1) % STATS_EVERY == 0:
            await self._send(P.metadata(self._stats_event(frame)))

    def _session_event(self, prepared, info) -> dict:
        s = self.sampling
        return {
            "type": "session", "protocol": 1, "session": self.id, "voice": prepared.voice,
            "prompt_tokens": len(prepared.text.tokens), "prompt_budget": prepared.text.budget,
            "notes": list(prepared.notes), "sampling": {
                "text_temperature": s.text_temperature, "text_topk": s.text_top_k,
                "audio_temperature": s.temperature, "audio_topk": s.top_k},
            "persona_cached": info.persona_cached, "persona_ms": round(info.persona_ms, 1),
            "sample_rate": SAMPLE_RATE, "frame_rate": SAMPLE_RATE / FRAME_SIZE,
            "user_text": self.server.user_text,
        }

    def _stats_event(self, frame) -> dict:
        stats = self.server.loop.stats()
        recent = sorted(stats.frame_ms[-STATS_EVERY:]) or [0.0]
        waits = sorted(self._waits) or [0.0]
        return {
            "type": "stats", "frames": frame.index + 1,
            "frame_ms_p50": round(_pct(recent, 0.5), 2), "frame_ms_p99": round(_pct(recent, 0.99), 2),
            "backlog_frames": frame.backlog, "sessions": stats.sessions,
            "max_sessions": stats.max_sessions,
            # For the client to send each frame just before the batch's step (PROTOCOL.md).
            "wait_ms_p10": round(_pct(waits, 0.1), 2), "wait_ms_p50": round(_pct(waits, 0.5), 2),
            "wait_ms_p99": round(_pct(waits, 0.99), 2),
            "step_due_ms": round(max(0.0, stats.next_due - time.monotonic()) * 1e3, 2),
            "frame_period_ms": round(self.server.loop.frame_period * 1e3, 2),
        }

    # -- the client's duties: send audio, read what it is sent ------------------------------
    async def _watch(self) -> None:
        """Idle: no audio for `idle_s` since the last (pings and other messages do not
        count). Unread: websocket pings, one at a time; the client's websocket answers
        one only once it has read everything sent before it, so a ping unanswered for
        `unread_s` means the client has not read `unread_s` of replies (the kernels'
        buffers on both sides would hide that from the send buffer for minutes).
        It runs until the conversation ends: an error it posts waits behind the sender,
        which a client that does not read can hold up."""
        limits = self.server.config.limits
        loop = asyncio.get_running_loop()
        told = None  # when the idle error was posted
        while True:
            now = loop.time()
            idle = self._last_audio is not None and now - self._last_audio >= limits.idle_s
            if idle and told is None:
                self.events.put_nowait(("error", P.ProtocolError(
                    "idle", f"No audio came from the client for {limits.idle_s:g} s.")))
                told = now
            if told is not None and now - told >= END_WAIT_S:
                self._drop(f"the conversation has not ended {END_WAIT_S:g} s after its idle error")
                return
            if self._ping_sent is not None and now - self._ping_sent >= limits.unread_s:
                self._drop(f"the client has read nothing for {limits.unread_s:g} s")
                return
            if self._ping_sent is None:
                self._ping_payload = os.urandom(8)  # unguessable: only a reader can answer
                self._ping_sent = now
                # Not awaited: its send may wait for the client to read.
                self._ping_task = asyncio.ensure_future(self.ws.ping(self._ping_payload))
                self._ping_task.add_done_callback(_quiet)
            wake = [limits.ping_s, self._ping_sent + limits.unread_s - now]
            if told is not None:
                wake.append(told + END_WAIT_S - now)
            elif self._last_audio is not None:
                wake.append(self._last_audio + limits.idle_s - now)
            await asyncio.sleep(max(0.01, min(wake)))

    def _on_pong(self, payload: bytes) -> None:
        # Only the answer to the outstanding ping: pongs nobody asked for are ignored.
        if self._ping_sent is not None and payload == self._ping_payload:
            self._ping_sent = None

    def _drop(self, why: str) -> None:
        """Cut off a client that does not read: it cannot be told, whatever is sent now
        would wait behind the rest."""
        if not self._dropped:
            self._dropped = True
            log.warning("conversation %s: %s; dropped", self.id, why)
            self.server.count_refusal("slow_client")
        self._abort()

    async def _send(self, data: bytes) -> None:
        """One message, waited on for at most `unread_s`: a send buffer the client does
        not empty would otherwise hold the sender, and the slot, for ever."""
        wait_s = self.server.config.limits.unread_s
        try:
            await asyncio.wait_for(self.ws.send_bytes(data), wait_s)
        except asyncio.TimeoutError:
            self._drop(f"a reply waited {wait_s:g} s for the client to read")
            raise ConnectionResetError("the client does not read") from None

    def _flooded(self, why: str) -> None:
        """From the frame guard: nothing more of this connection is read."""
        log.warning("conversation %s: %s; closed", self.id, why)
        self.events.put_nowait(("error", P.ProtocolError(
            "rate_limited", f"The client sent {why}.")))

    def too_big(self, size: int) -> None:
        """From the frame guard (gate.py): a message over the limit is coming; none of
        it is kept."""
        self.events.put_nowait(("error", P.ProtocolError(
            "message_too_big", f"A message of {size} bytes is over the limit of "
            f"{self.server.config.limits.message_bytes}.")))

    # -- what the client sends ---------------------------------------------------------------
    async def _receive(self) -> None:
        """Reads until the client leaves; reports the end (or a reason to end) as an event."""
        try:
            while True:
                msg = await self.ws.receive()
                if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                    break
                self._check_rate(msg)
                if msg.type == WSMsgType.PING:
                    await self.ws.pong(msg.data)
                elif msg.type == WSMsgType.PONG:
                    self._on_pong(msg.data)
                elif msg.type == WSMsgType.BINARY and msg.data:
                    await self._on_message(msg.data)
        except P.ProtocolError as e:
            self.events.put_nowait(("error", e))
            return
        except (ConnectionError, RuntimeError):
            pass
        self.events.put_nowait(("gone", None))

    def _check_rate(self, msg) -> None:
        limits = self.server.config.limits
        size = len(msg.data) if isinstance(msg.data, (bytes, str)) else 0
        if size > limits.message_bytes:
            raise P.ProtocolError("message_too_big", f"A message of {size} bytes is over the "
                                  f"limit of {limits.message_bytes}.")
        now = asyncio.get_running_loop().time()
        if not self._messages.take(1, now) or not self._bytes.take(size, now):
            raise P.ProtocolError("rate_limited", "The client sends too many messages or bytes.")

    async def _on_message(self, data: bytes) -> None:
        kind = data[0]
        if kind == P.AUDIO:
            try:
                pieces = self._heard.pages(data[1:])
            except ValueError:
                raise P.ProtocolError("bad_audio", "The audio is not an Ogg/Opus stream.") from None
            if any(n > MAX_SAMPLES for n in accumulate(map(ogg_samples, pieces))):
                # Counted before decoding (and no further): a few bytes of Opus can be
                # seconds of audio.
                self._on_codec_error(P.ProtocolError(
                    "rate_limited", f"A message holds more than {MAX_AUDIO_S:g} s of audio: "
                    "send the audio as it is recorded."))
                return
            for piece in pieces:  # a page at a time
                self._on_audio(piece)
            if self.events.qsize() > self.server.config.limits.pending_frames:
                # It sends but does not read: nothing can be told to it, cut it off.
                log.warning("conversation %s: the client does not read; dropped", self.id)
                self.server.count_refusal("slow_client")
                self._abort()
        elif kind == P.PING and len(data) <= 1 + P.MAX_PING_BYTES:
            await self.ws.send_bytes(data)
        # Other kinds are ignored, as the reference server does.

    def _on_audio(self, ogg: bytes) -> None:
        self._codec.decode(ogg)  # the PCM comes to _on_pcm

    def _on_pcm(self, pcm) -> None:
        if self._last_audio is not None:  # the idle time runs from the handshake
            self._last_audio = asyncio.get_running_loop().time()
        if self.slot is not None:
            backlog = self.slot.push(pcm, self._max_backlog)  # not kept beyond the limit
            if backlog > self._max_backlog:
                self._on_codec_error(P.ProtocolError(
                    "rate_limited", "Audio arrives faster than real time: "
                    f"more than {self._max_backlog} frames are waiting."))

    def _on_codec_error(self, error: P.ProtocolError) -> None:
        # Nothing more is decoded: what the worker still holds would only pile up.
        self._codec.close(error)
        # Nothing more is read, as when the receiver raised it itself: the close then
        # waits for the client's reply instead of dropping a client still sending.
        if self._receiver is not None:
            self._receiver.cancel()
        self.events.put_nowait(("error", error))

    # -- ending ----------------------------------------------------------------------------
    async def _close(self, code: str, message: str) -> None:
        if self.ws.closed:
            return
        try:  # bounded: a client that does not read would hold this send for ever
            await asyncio.wait_for(self._tell(code, message), CLOSE_WAIT_S)
        except asyncio.TimeoutError:
            log.warning("conversation %s: the client does not read its error; dropped", self.id)
            self._abort()
            return
        except (ConnectionError, RuntimeError):
            pass
        await self._close_ws(P.CLOSE_CODES.get(code, 1011), P.close_reason(code, message))

    async def _tell(self, code: str, message: str) -> None:
        if self.extensions:
            await self.ws.send_bytes(P.metadata({"type": "error", "code": code, "message": message}))
        await self.ws.send_bytes(P.error(message))

    async def _close_ws(self, code: int, reason: str) -> None:
        try:
            await asyncio.wait_for(self.ws.close(code=code, message=reason.encode("utf-8")),
                                   CLOSE_WAIT_S)
        except (asyncio.TimeoutError, ConnectionError, RuntimeError):
            self._abort()

    def _abort(self) -> None:
        transport = self.request.transport
        if transport is not None:
            transport.abort()

    async def shut_down(self, code: str, message: str) -> None:
        """The server is stopping: tell this client why and close."""
        await self._close(code, message)


def _quiet(task: asyncio.Future) -> None:
    """A ping's send failing means the client went away; `_receive` reports that."""
    if not task.cancelled():
        task.exception()


def _pct(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def _failure_text(error: BaseException) -> str:
    text = getattr(error, "message", "") or type(error).__name__
    return f"The server could not go on with this conversation ({text})."
