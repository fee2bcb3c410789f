"""The remote engine's frame loop: the model is a team server at the other end of a
websocket. It has the local FrameLoop's shape, so engine.host.converse_live runs it with
the same audio, turns and recording: `process(mic)` once per 80 ms gives what to play
and the words that go with it. The network, the Opus codec and the jitter buffer run on
a thread of their own (asyncio), so a slow network never holds up the microphone.

A connection that drops mid-conversation is opened again with backoff; the conversation
goes on (silence meanwhile) and the user is told. The server starts afresh then: the
protocol has no way to carry the conversation so far across."""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import threading
import time
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from ..audio.ogg import PageSplitter
from ..core.errors import ArcusError
from ..core.events import Loading, Notice
from . import protocol as P
from . import tls as T
from . import voices
from .jitter import FRAME, FRAME_S, JitterBuffer
from .pacing import SendPacer

log = logging.getLogger(__name__)
STT_LAG_S = 0.7  # the server's speech-to-text runs 0.5 s behind, plus the network
SESSION_WAIT_S = 0.3  # after the handshake, for the session event (our server sends it)
OUTBOX = 25  # microphone frames waiting to be sent (2 s): beyond that they are dropped
FLUSH_FRAMES = 8  # silence sent at the end for the user's last words (0.64 s)
AHEAD = 50  # frames of audio the server may send beyond those it was sent (4 s): it
# answers each frame with one, so more is a broken or hostile server
KEPT = 256  # text pieces (the assistant's, the user's) waiting to be shown, at most
NOTES = 5  # of the session event's notes, told to the user
USER_SLACK_S = 3.0  # how far past the audio sent a user's word may be placed


@dataclass
class ClientSettings:
    connect_timeout_s: float = 10.0
    # NVIDIA's reference server replays the persona for seconds, and holds one
    # conversation at a time: the next waits for it.
    handshake_timeout_s: float = 60.0
    reconnect_waits_s: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0, 8.0)  # before each try
    ping_every_s: float = 1.0  # websocket pings: the round trip, and a dead link found
    ping_timeout_s: float = 5.0
    min_depth: int = 2  # the jitter buffer's frames in hand
    max_depth: int = 6
    far_ms: float = 300.0  # a round trip worth telling the user about


@dataclass
class Step:  # what converse_live reads of a frame loop's result
    pcm: np.ndarray
    piece: str | None = None
    user_piece: str | None = None
    user_time: float = 0.0
    compute_ms: float = 0.0


class RemoteLoop:
    def __init__(self, server_url: str, token: str | None, persona: dict | None = None,
                 sampling: dict | None = None, seed: int | None = None, events=None,
                 settings: ClientSettings | None = None, fingerprint: str = "") -> None:
        self.server_url = server_url.strip()
        self.where = P.where(self.server_url)
        self._token = token or None
        self._pin = fingerprint.strip()  # the server's certificate, pinned (remote/tls.py)
        self._persona = dict(persona or {})
        self._sampling, self._seed = sampling, seed
        self._events = events
        self.settings = s = settings or ClientSettings()
        self.jitter = JitterBuffer(s.min_depth, s.max_depth)
        self.pacer = SendPacer()  # when each microphone frame goes (our server only)
        self.stt = None  # like FrameLoop's: set when the server sends the user's words
        self.error: ArcusError | None = None
        self.frames = 0  # microphone frames taken
        self.received = 0  # frames of the server's audio, over every connection
        self.connections = 0
        self.mic_dropped = 0  # microphone frames the network could not take
        self.session: dict = {}  # the server's session event, if it sends one
        self.server_ms: tuple[float, float] | None = None  # its frame time p50, p99
        self._lock = threading.Lock()
        self._pieces: collections.deque = collections.deque(maxlen=KEPT)  # (seq, piece)
        self._user: collections.deque = collections.deque(maxlen=KEPT)  # (seconds, piece)
        self.text_dropped = 0  # pieces left out: more came than can wait to be shown
        self._trips: collections.deque = collections.deque(maxlen=25)  # ms, latest frames
        self._ready = threading.Event()
        self._received = threading.Condition()  # audio frames in, for flush_user
        self._stream = SimpleNamespace(seq=0, sent=0, handed={})
        self._ws = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing: asyncio.Event | None = None
        self._outbox: asyncio.Queue | None = None
        self._offered: asyncio.Event | None = None  # a microphone frame was put in the outbox
        self._voice_name: str | None = None  # an uploaded voice's name on the server
        self._told_far = False
        self._thread: threading.Thread | None = None

    # -- the frame thread's side -------------------------------------------------------

    def start(self) -> None:
        """Connect in the background; `wait_ready` says when it is done."""
        # Made here, so that close() can reach the thread from the first moment.
        self._loop = asyncio.new_event_loop()
        self._closing = asyncio.Event()
        self._thread = threading.Thread(target=self._thread_main, name="remote-engine",
                                        daemon=True)
        self._thread.start()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """True once the conversation is ready; raises what went wrong instead."""
        ready = self._ready.wait(timeout)
        if self.error is not None:
            raise self.error
        return ready

    def __enter__(self) -> RemoteLoop:
        if self._thread is None:
            self.start()
        self.wait_ready()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def process(self, mic: np.ndarray) -> Step:
        start = time.perf_counter()
        if self.error is not None:
            raise self.error
        self.frames += 1
        try:
            self._loop.call_soon_threadsafe(self._offer, np.array(mic, np.float32),
                                            time.monotonic())
        except RuntimeError:  # the network thread has ended: it set the error first
            raise self.error or ArcusError("The team server connection ended.")
        pcm, seq = self.jitter.pop()
        handed = self._stream.handed.pop(seq, None) if seq is not None else None
        if handed is not None:  # the server answers frame n with its frame n
            self._trips.append(1000 * (time.monotonic() - handed))
        step = Step(pcm)
        with self._lock:
            step.piece = self._due_piece()
            if self._user:
                step.user_time, step.user_piece = self._user.popleft()
        step.compute_ms = (time.perf_counter() - start) * 1000
        if self.server_ms is not None:  # the model's own time for a frame, on the server
            step.compute_ms = self.server_ms[0]
        return step

    def flush_user(self) -> list[Step]:
        """At the end: silence for the server's speech-to-text to finish the user's last
        words (it runs behind); one Step per silent frame, with those words."""
        if self.stt is None or self.error is not None or self._loop is None:
            return []
        silence = np.zeros(FRAME, np.float32)
        with self._received:
            waiting = self._stream.sent - self._stream.seq + self._outbox.qsize()
            want = self.received + waiting + FLUSH_FRAMES
        for _ in range(FLUSH_FRAMES):
            self._loop.call_soon_threadsafe(self._offer, silence, time.monotonic())
        self.wait_audio(want, 2.0 + FLUSH_FRAMES * FRAME_S)  # it answers each frame it steps
        steps = [Step(silence.copy()) for _ in range(FLUSH_FRAMES)]
        with self._lock:
            for step in steps:
                if self._user:
                    step.user_time, step.user_piece = self._user.popleft()
        return steps

    def wait_audio(self, count: int, timeout: float) -> bool:
        """Wait until `count` frames of the server's audio have arrived in all (False
        after `timeout` s, or when the connection failed)."""
        with self._received:
            return self._received.wait_for(
                lambda: self.received >= count or self.error is not None, timeout) \
                and self.error is None

    @property
    def latency_ms(self) -> float | None:
        """The round trip through the server, as the user hears it: from a microphone
        frame handed in to the server's answer to it leaving for the speaker (network
        both ways, the server's tick and step, the codecs, the jitter buffer); median of
        the latest frames. A local engine answers in the same frame."""
        trips = list(self._trips)
        return round(float(np.median(trips)), 1) if trips else None

    @property
    def ping_ms(self) -> float | None:
        """The websocket's own round trip (ping and pong), network only."""
        ws = self._ws
        rtt = getattr(ws, "latency", 0.0) if ws is not None else 0.0
        return round(1000 * rtt, 2) if rtt else None

    def close(self) -> None:
        loop, closing = self._loop, self._closing
        if loop is not None and closing is not None:
            try:
                loop.call_soon_threadsafe(closing.set)
            except RuntimeError:
                pass  # already over
        if self._thread is not None:
            self._thread.join(10)
        stats = self.jitter.stats()
        log.info("remote engine: %d connection(s), jitter buffer %s, latency %s ms, "
                 "%d text piece(s) dropped", self.connections, stats, self.latency_ms,
                 self.text_dropped)

    def _due_piece(self) -> str | None:
        """The assistant's next piece, once its audio is playing (lock held): words
        stay with the voice however long the jitter buffer holds it."""
        if not self._pieces:
            return None
        seq, piece = self._pieces[0]
        position = self.jitter.position
        if seq < 0 or (position is not None and seq < position):
            self._pieces.popleft()
            return piece
        return None

    # -- the network thread --------------------------------------------------------------

    def _thread_main(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
        except BaseException as e:  # a bug here must not leave the frame loop waiting
            log.exception("remote engine thread")
            self._fail(ArcusError(f"The team server connection failed: {type(e).__name__}: {e}"))
        finally:
            self._loop.close()
            self._ready.set()
            with self._received:
                self._received.notify_all()

    async def _main(self) -> None:
        self._outbox = asyncio.Queue(OUTBOX)
        self._offered = asyncio.Event()
        try:
            ws = await self._unless_closing(self._open(first=True))
        except ArcusError as e:
            self._fail(e)
            return
        while ws is not None:
            ended = await self._converse(ws)
            if self._closing.is_set():
                return
            ws = await self._reconnect(ended)

    async def _unless_closing(self, opening):
        """A connection from `opening`, or None when the conversation ends first (the
        user may stop while the server prepares the persona)."""
        task = asyncio.ensure_future(opening)
        closing = asyncio.ensure_future(self._closing.wait())
        await asyncio.wait({task, closing}, return_when=asyncio.FIRST_COMPLETED)
        closing.cancel()
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            return None
        ws = task.result()
        if self._closing.is_set():
            await ws.close()
            return None
        return ws

    def _offer(self, pcm: np.ndarray, handed: float) -> None:
        if self._ws is None:  # reconnecting: the server would not hear it in time
            return
        if self._outbox.full():
            self.mic_dropped += 1
            return
        self._outbox.put_nowait((pcm, handed))
        self._offered.set()

    async def _open(self, first: bool = False) -> object:
        """A connection with its conversation ready (the handshake received)."""
        try:
            return await self._open_once(first)
        except P.ServerRefused as e:
            if getattr(e, "code", "") != "unknown_voice" or not self._persona.get("voice_file"):
                raise
            self._voice_name = None  # a restarted server forgot the upload: send it again
            return await self._open_once(first)

    async def _open_once(self, first: bool) -> object:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

        s = self.settings
        voice = await self._voice(first)
        url = P.chat_url(self.server_url, self._persona.get("text") or "", voice,
                         self._sampling, self._seed)
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else None
        tls_kwargs = {}
        if url.startswith("wss:") and self._pin:
            tls_kwargs["ssl"] = self._context()
        if first:
            self._progress(0.2, f"Connecting to the team server at {self.where}")
        try:
            ws = await connect(url, additional_headers=headers, compression=None,
                               open_timeout=s.connect_timeout_s, ping_interval=s.ping_every_s,
                               ping_timeout=s.ping_timeout_s, close_timeout=2.0,
                               max_size=2 ** 20,
                               user_agent_header="arcus-desktop", **tls_kwargs)
        except InvalidStatus as e:
            raise P.http_refusal(e.response.status_code, e.response.body or b"",
                                 self.server_url, self._token is not None) from None
        except InvalidHandshake as e:
            if isinstance(e.__cause__, (EOFError, OSError)):  # hung up mid-answer: stopping?
                raise P.ServerUnavailable(f"The team server at {self.where} hung up before "
                                          "answering.", "It may be restarting; try again in "
                                                        "a minute.") from None
            raise P.ServerRefused(f"{self.where} did not answer as a team server ({e}).",
                                  "Check the address in Settings > Engine.") from None
        except (OSError, TimeoutError) as e:
            shown = ""
            if T.offers_pin(e) and not isinstance(e, T.PinMismatch):  # for the user to compare
                shown = await asyncio.to_thread(T.presented, self.server_url,
                                                s.connect_timeout_s)
            raise P.unreachable(e, self.server_url, s.connect_timeout_s, shown) from None
        if first:
            self._progress(0.5, "The team server is preparing the persona")
        said, error = "", ""

        async def handshake() -> None:
            nonlocal said, error
            while True:
                kind, payload = P.parse(await ws.recv())
                if kind == P.HANDSHAKE:
                    return
                if kind == P.CLOSING:
                    said = P.said(payload)
                elif kind == P.EVENT and (event := P.event(payload)) and event["type"] == "error":
                    error = P.short(event.get("code"), 64)
                # anything else before the handshake is not defined: ignored

        try:
            await asyncio.wait_for(handshake(), s.handshake_timeout_s)
        except asyncio.CancelledError:  # the conversation ended before it began
            ws.transport.abort()
            raise
        except ConnectionClosed as e:
            code, reason = (e.rcvd.code, e.rcvd.reason) if e.rcvd is not None else (1006, "")
            raise self._closed(code, reason, said, error, started=False) from None
        except (TimeoutError, asyncio.TimeoutError):
            await ws.close()
            raise P.ServerUnavailable(
                f"The team server at {self.where} did not start the conversation within "
                f"{s.handshake_timeout_s:g} s.",
                "It may be busy with another conversation (NVIDIA's reference server holds "
                "one at a time) or overloaded; try again in a minute.") from None
        return ws

    def _context(self):
        try:
            return T.client_context(self._pin)
        except ValueError:
            raise ArcusError(f"The certificate fingerprint for {self.where} is not a SHA-256 "
                             "fingerprint.", "Check it in Settings > Engine: 32 pairs of "
                             "hex digits, like 3A:F1:…, as the server's owner gave it.") from None

    def _closed(self, code: int | None, reason: str, said: str, error: str,
                started: bool) -> ArcusError:
        err = P.closed(code, reason, said, error, self.server_url, started)
        err.code = error or (reason.split(":", 1)[0].strip() if ":" in reason else "")
        return err

    async def _converse(self, ws) -> ArcusError:
        """One connection's conversation, until it ends: how it ended."""
        import sphn
        from websockets.exceptions import ConnectionClosed

        self.connections += 1
        self.jitter.reset()
        self.pacer.reset()
        with self._lock:  # the words of the last connection go out with what is left
            self._pieces = collections.deque(((-1, p) for _, p in self._pieces), maxlen=KEPT)
        with self._received:
            self._stream = stream = SimpleNamespace(
                seq=0, sent=0, handed={}, said="", error="", start_s=self.frames * FRAME_S,
                pending=np.zeros(0, np.float32))
        while not self._outbox.empty():  # stale microphone audio
            self._outbox.get_nowait()
        self._ws = ws
        if self.connections == 1:  # our server says what it offers right after the handshake
            self._loop.call_later(SESSION_WAIT_S, self._ready.set)
        writer, reader = sphn.OpusStreamWriter(P.RATE), sphn.OpusStreamReader(P.RATE)
        tasks = [asyncio.create_task(self._receive(ws, reader, stream)),
                 asyncio.create_task(self._send(ws, writer, stream)),
                 asyncio.create_task(self._closing.wait())]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._ws = None
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:  # a dropped connection is expected; anything else is a bug
            error = None if task.cancelled() else task.exception()
            if isinstance(error, ArcusError):  # the server broke the protocol: said so
                await ws.close(1002, "protocol error")
                return error
            if error is not None and not isinstance(error, ConnectionClosed):
                raise error
        if self._closing.is_set():
            await ws.close()
            return None
        try:  # it ended by itself: how
            await asyncio.wait_for(ws.wait_closed(), 2.0)
        except (TimeoutError, asyncio.TimeoutError):
            ws.transport.abort()
        return self._closed(ws.close_code, ws.close_reason or "", stream.said, stream.error,
                            started=True)

    async def _receive(self, ws, reader, stream) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            async for message in ws:
                kind, payload = P.parse(message)
                if kind == P.AUDIO:
                    self._audio(self._decode(reader, payload, stream), stream)
                elif kind == P.TEXT:
                    self._keep(self._pieces, (stream.seq, P.piece(payload)))
                elif kind == P.EVENT:
                    self._event(P.event(payload), stream)
                elif kind == P.CLOSING:
                    stream.said = P.said(payload)
                # other kinds (a second handshake, pings, newer extensions): ignored
        except ConnectionClosed:
            pass

    def _decode(self, reader, payload: bytes, stream) -> np.ndarray:
        """A message's audio. One message can decode to seconds of it: a server far
        ahead of what it was sent is cut off before its audio fills the memory."""
        if stream.seq - stream.sent > AHEAD:
            raise P.broken(self.server_url, "sent far more audio than it was asked for")
        try:
            pcm = reader.append_bytes(payload)
        except ValueError:  # not Ogg, not Opus, or more than the decoder takes at once
            raise P.broken(self.server_url, "sent audio this app cannot read") from None
        if pcm is None:
            return np.zeros(0, np.float32)
        return np.asarray(pcm, np.float32).reshape(-1)

    def _keep(self, queue: collections.deque, item) -> None:
        with self._lock:
            if len(queue) == queue.maxlen:  # the oldest goes: counted
                self.text_dropped += 1
            queue.append(item)

    def _audio(self, pcm: np.ndarray, stream) -> None:
        if not pcm.size:
            return
        pending = np.concatenate([stream.pending, pcm])
        now = time.monotonic()
        n = pending.size // FRAME
        for i in range(n):
            self.jitter.put(stream.seq + i, pending[i * FRAME:(i + 1) * FRAME].copy(), now)
        stream.pending = pending[n * FRAME:]
        if n:
            with self._received:
                stream.seq += n
                self.received += n
                self._received.notify_all()

    def _event(self, event: dict | None, stream) -> None:
        kind = event and event["type"]
        if kind == "session":
            self.session = event
            if event.get("user_text"):
                self.stt = SimpleNamespace(delay_s=STT_LAG_S)
            notes = event.get("notes")
            if self.connections == 1 and isinstance(notes, list):
                for note in notes[:NOTES]:
                    if P.short(note).strip():
                        self._notice(P.short(note))
            self._ready.set()
        elif kind == "user_text" and isinstance(event.get("text"), str):
            start = _number(event.get("start", 0.0))
            if start is None:
                return
            # Within the audio it heard: a time far off would break the transcript.
            start = min(max(start, 0.0), stream.sent * FRAME_S + USER_SLACK_S)
            self._keep(self._user, (round(stream.start_s + start, 3),
                                    P.piece(event["text"].encode())))
        elif kind == "stats":
            p50, p99 = _number(event.get("frame_ms_p50")), _number(event.get("frame_ms_p99"))
            if p50 is not None and p99 is not None and 0.0 <= p50 <= p99 < 60_000:
                self.server_ms = (p50, p99)
            self.pacer.update(event)
            self._tell_if_far()
        elif kind == "error":
            stream.error = P.short(event.get("code"), 64)
        # other types: ignored, more may come

    async def _send(self, ws, writer, stream) -> None:
        pages = PageSplitter()
        while True:
            pcm, handed = await self._outbox.get()
            data = writer.append_pcm(pcm)  # coded first: the hold ends in the send
            await self._hold(handed)
            stream.handed[stream.sent] = handed
            stream.handed.pop(stream.sent - 200, None)  # never answered (a dropped frame)
            stream.sent += 1
            # One Ogg page per message: NVIDIA's server decodes one page per message.
            for page in pages.pages(data):
                await ws.send(bytes([P.AUDIO]) + page)
            if stream.sent % 25 == 0:
                self._tell_if_far()

    async def _hold(self, handed: float) -> None:
        """Until the pacer's time for a frame read at `handed`, unless the next frame comes
        first: never more than one frame held; a late one goes at once."""
        delay = self.pacer.send_at(handed) - time.monotonic()
        if delay <= 0 or not self._outbox.empty():
            self.pacer.held_ms.append(max(0.0, 1e3 * (time.monotonic() - handed)))
            return
        self._offered.clear()
        try:
            await asyncio.wait_for(self._offered.wait(), delay)
        except (TimeoutError, asyncio.TimeoutError):
            pass
        self.pacer.held_ms.append(1e3 * (time.monotonic() - handed))

    async def _reconnect(self, ended: ArcusError) -> object | None:
        if not isinstance(ended, P.ServerUnavailable):
            self._fail(ended)
            return None
        self._notice("The connection to the team server dropped; reconnecting…", ended.message)
        began, last = time.monotonic(), ended
        for wait in self.settings.reconnect_waits_s:
            try:  # wait, unless the conversation ends meanwhile
                await asyncio.wait_for(self._closing.wait(), wait)
                return None
            except (TimeoutError, asyncio.TimeoutError):
                pass
            try:
                ws = await self._unless_closing(self._open())
                if ws is None:
                    return None
            except P.ServerUnavailable as e:
                last = e
                continue
            except ArcusError as e:
                self._fail(e)
                return None
            self._notice(f"Reconnected to the team server after "
                         f"{time.monotonic() - began:.1f} s.",
                         "The conversation goes on, but Arcus starts afresh: it does not "
                         "remember what was said before the connection dropped.")
            return ws
        self._fail(P.ServerUnavailable("The connection to the team server was lost and could "
                                       f"not be restored. {last.message}", last.hint))
        return None

    async def _voice(self, first: bool) -> str:
        """The voice_prompt: the preset, or the user's recording uploaded to the server
        (once; again when a restarted server has forgotten it)."""
        preset = self._persona.get("voice") or P.DEFAULT_VOICE
        path = self._persona.get("voice_file")
        if not path:
            return preset
        if self._voice_name is None:
            try:
                self._voice_name = await asyncio.to_thread(
                    voices.upload, self.server_url, path, self._token,
                    self.settings.connect_timeout_s, self._pin)
            except ArcusError as e:
                self._voice_name = preset
                if first:
                    self._notice(e.message, f"Arcus speaks with the preset voice {preset} "
                                            "instead.")
        return self._voice_name

    # -- telling ---------------------------------------------------------------------------

    def _fail(self, error: ArcusError) -> None:
        if self.error is None:
            self.error = error
        self._ready.set()
        with self._received:
            self._received.notify_all()

    def _notice(self, message: str, hint: str = "") -> None:
        if self._events is not None:
            self._events.send(Notice(message, hint))

    def _progress(self, fraction: float, what: str) -> None:
        if self._events is not None:
            self._events.send(Loading(fraction, what))

    def _tell_if_far(self) -> None:
        rtt = self.ping_ms or 0.0
        if rtt > self.settings.far_ms and not self._told_far:
            self._told_far = True
            self._notice(f"The team server is far away: {rtt:.0f} ms there and back.",
                         "Arcus will answer later than usual; a wired network or a "
                         "closer server helps.")


def _number(value) -> float | None:
    """A finite number the server sent (JSON reads 1e999 as inf, NaN as nan), or None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        value = float(value)
    except OverflowError:  # an integer of hundreds of digits
        return None
    return value if math.isfinite(value) else None
