"""The server's state and its HTTP routes: `/api/chat` (websocket), `/api/voices`,
`/healthz`, `/metrics`."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import Counter, OrderedDict

from aiohttp import web

from ..core.errors import AudioFileError, PromptTooLongError, UnknownVoiceError
from ..core.persona import Persona
from . import agent, auth, metrics, voices
from . import protocol as P
from .codec_pool import CodecPool
from .config import ServerConfig
from .session import Session

log = logging.getLogger(__name__)
PREPARED_CACHE = 32  # personas kept ready (tokens, voice, prompt plan)
MAX_URL_BYTES = 64 * 1024  # a 4000-character role, percent-encoded UTF-8, fits
DECODES_AT_ONCE = 2  # uploads decoded at once: each may take tens of MB while it lasts


class Server:
    """One model, one batch loop, many conversations. `engine` and `loop` come from the
    engine package (an Engine and a started BatchLoop); this class never imports torch."""

    def __init__(self, engine, loop, config: ServerConfig) -> None:
        self.engine = engine
        self.loop = loop
        self.config = config
        self.draining = False
        self.sessions: set[Session] = set()
        self.started_total = 0
        self.refused: Counter[str] = Counter()
        self.voices = voices.VoiceStore(config.limits.uploaded_voices)
        self.gate = None  # the connection gate, once listening (run.listen)
        self.codecs = CodecPool(config.codec_workers)  # started by run.listen
        self.agent = None  # the load balancer's agent port, when asked for (agent.py)
        self.uploads = 0  # POST /api/voices being read or decoded
        self._decodes = asyncio.Semaphore(DECODES_AT_ONCE)
        self._prepared: OrderedDict[tuple, object] = OrderedDict()
        self._lock = threading.Lock()  # the two caches above: prepares run on worker threads

    @property
    def user_text(self) -> bool:
        return self.loop.stt is not None

    # -- conversations ----------------------------------------------------------------------
    def take_slot(self):
        from ..engine.batch_loop import NoFreeSlot

        if self.loop.failed:
            raise P.ProtocolError("internal", "The server's engine has stopped.")
        if self.draining:
            raise P.ProtocolError("draining", "The server is shutting down and takes no new "
                                  "conversations. Try again in a minute.")
        try:
            return self.loop.reserve()
        except NoFreeSlot:
            raise P.ProtocolError("full", f"All {self.config.max_sessions} conversation slots "
                                  "are in use. Try again in a minute.") from None

    def prepare(self, chat: P.ChatRequest):
        """The persona's prompt plan (runs on a worker thread: tokenizer and voice files)."""
        key = (chat.voice, chat.text, self.config.prompt_budget)
        with self._lock:
            prepared = self._prepared.get(key)
            if prepared is not None:
                self._prepared.move_to_end(key)
                return prepared
            codes = self.voices.get(chat.voice) if chat.voice.startswith(voices.PREFIX) else None
        persona = Persona(text=chat.text, voice=chat.voice, token_budget=self.config.prompt_budget)
        if chat.voice.startswith(voices.PREFIX) and codes is None:
            raise P.ProtocolError("unknown_voice", f"No voice called {chat.voice} was uploaded "
                                  "(uploads last until the server restarts). Upload it again.")
        try:
            prepared = self.engine.prepare(persona, voice_codes=codes)
        except PromptTooLongError as e:
            raise P.ProtocolError("prompt_too_long", e.user_text()) from None
        except UnknownVoiceError as e:
            raise P.ProtocolError("unknown_voice", e.user_text()) from None
        with self._lock:
            self._prepared[key] = prepared
            while len(self._prepared) > PREPARED_CACHE:
                self._prepared.popitem(last=False)
        return prepared

    def sampling(self, chosen: dict):
        from dataclasses import replace

        return replace(self.loop.default_sampling, **chosen)

    def count_start(self) -> None:
        self.started_total += 1

    def count_refusal(self, code: str) -> None:
        self.refused[code] += 1

    # -- HTTP --------------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard], client_max_size=self.config.limits.upload_bytes)
        app.add_routes([
            web.get("/api/chat", self.chat),
            web.get("/healthz", self.healthz),
            web.get("/metrics", self.metrics),
            web.get("/api/voices", self.list_voices),
            web.post("/api/voices", self.upload_voice),
        ])
        return app

    @web.middleware
    async def _guard(self, request: web.Request, handler):
        # Refused before the token check: Connection: close, one answer a connection (what
        # was pipelined behind it is held unparsed until then, gate.py).
        if len(request.raw_path) > MAX_URL_BYTES:  # aiohttp's own check is per piece read
            refused = web.HTTPRequestURITooLong(
                text='{"error": "bad_request", "message": "The address is too long."}',
                content_type="application/json")
            refused.force_close()
            raise refused
        if not auth.token_ok(self.config.token, request.headers, request.query):
            if request.path == "/api/chat":  # a refused conversation; not a health probe
                self.count_refusal("unauthorized")
            refused = web.HTTPUnauthorized(
                text='{"error": "unauthorized", "message": "A valid server token is needed."}',
                content_type="application/json", headers={"WWW-Authenticate": "Bearer"})
            refused.force_close()
            raise refused
        if self.gate is not None:
            self.gate.authorised(request.transport)
        if "Content-Encoding" in request.headers:  # none is used, none is inflated (run.py)
            raise web.HTTPUnsupportedMediaType(
                text='{"error": "unsupported_encoding", '
                     '"message": "The server takes no compressed body."}',
                content_type="application/json")
        if request.method != "GET" or request.path == "/api/chat":
            if not auth.origin_ok(bool(self.config.token), request.headers):
                if request.path == "/api/chat":
                    self.count_refusal("forbidden_origin")
                raise web.HTTPForbidden(
                    text='{"error": "forbidden_origin", "message": "This server has no token, '
                         'so it only serves pages from this computer."}',
                    content_type="application/json")
        return await handler(request)

    async def chat(self, request: web.Request) -> web.StreamResponse:
        # No heartbeat and no automatic pongs: the session pings and answers itself
        # (what the client has read, session.py). aiohttp's own size cap is a backstop:
        # the frame guard (gate.py) refuses a large message before it is buffered.
        ws = web.WebSocketResponse(max_msg_size=self.config.limits.message_bytes + 1,
                                   compress=False, autoping=False)
        if not ws.can_prepare(request).ok:
            raise web.HTTPBadRequest(text="This address speaks websocket: GET /api/chat with an upgrade.")
        session = Session(self, ws, request)
        if hasattr(request.protocol, "on_too_big"):
            request.protocol.on_too_big = session.too_big
        await ws.prepare(request)
        self.sessions.add(session)
        try:
            await session.run()
        finally:
            self.sessions.discard(session)
        return ws

    async def healthz(self, request: web.Request) -> web.Response:
        # Not ready (503) when no conversation can start, full included: an orchestrator
        # sends new conversations elsewhere.
        status, free, slots = agent.state(self)
        body = {"status": status, "sessions": self.loop.sessions, "max_sessions": slots,
                "free_slots": free,
                "device": self.engine.device.type, "user_text": self.user_text}
        return web.json_response(body, status=200 if status == "ok" else 503)

    async def metrics(self, request: web.Request) -> web.Response:
        text = metrics.render(self.loop.stats(), self.started_total, dict(self.refused), self.gate)
        return web.Response(text=text, content_type="text/plain", charset="utf-8",
                            headers={"X-Content-Type-Options": "nosniff"})

    async def list_voices(self, request: web.Request) -> web.Response:
        presets = await asyncio.to_thread(self.engine.voices.names)
        with self._lock:
            custom = self.voices.names()
        return web.json_response({"voices": [f"{n}.pt" for n in presets], "custom": custom})

    async def upload_voice(self, request: web.Request) -> web.Response:
        if self.uploads >= self.config.limits.uploads:
            # Refused before its body is read: each one in flight holds up to upload_bytes.
            response = web.json_response(
                {"error": "busy", "message": "Too many uploads at once. Try again in a few "
                 "seconds."}, status=503, headers={"Retry-After": "5"})
            response.force_close()
            return response
        self.uploads += 1
        try:
            return await self._upload_voice(request)
        finally:
            self.uploads -= 1

    async def _upload_voice(self, request: web.Request) -> web.Response:
        from ..engine.voices import MAX_VOICE_SECONDS

        try:  # aiohttp answers 413 beyond client_max_size
            body = await asyncio.wait_for(request.read(), self.config.limits.upload_s)
        except asyncio.TimeoutError:
            return web.json_response({"error": "timeout", "message": "The upload took over "
                                      f"{self.config.limits.upload_s:g} s."}, status=408)
        name, digest = voices.name_of(body)
        with self._lock:
            known = self.voices.get(name) is not None
        if not known:
            try:
                async with self._decodes:
                    pcm, seconds, trimmed = await asyncio.to_thread(voices.decode, body,
                                                                    MAX_VOICE_SECONDS)
            except AudioFileError as e:
                return web.json_response({"error": "bad_audio", "message": e.message}, status=400)
            codes = await asyncio.wrap_future(self.loop.encode_voice(name, pcm, digest))
            with self._lock:
                self.voices.put(codes, {"voice_prompt": name, "seconds": round(seconds, 2),
                                        "trimmed_seconds": round(trimmed, 2)})
        with self._lock:
            return web.json_response(self.voices.info(name))

    async def shut_down(self) -> None:
        """Close every conversation (after draining, or at once)."""
        await asyncio.gather(*(s.shut_down("shutdown", "The server stopped.") for s in list(self.sessions)),
                             return_exceptions=True)
