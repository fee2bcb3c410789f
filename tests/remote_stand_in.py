"""A STAND-IN for the team server, written from the documented protocol (NVIDIA's
reference protocol in shared/reference/personaplex.md and the team server's
docs/PROTOCOL.md), not from our client: no model behind it. Its "assistant" echoes the
user's audio back, frame for frame, and says a scripted text piece every few frames that
carry sound; it also sends message kinds a client must ignore. aiohttp on loopback, in a
thread."""

from __future__ import annotations

import asyncio
import json
import random
import threading

from aiohttp import WSMsgType, web

FRAME = 1920
WORDS = (" Hello", " there", ",", " my", " friend", ".")


class StandIn:
    def __init__(self, token: str | None = None, max_sessions: int = 4, every: int = 4,
                 extensions: bool = True, junk: bool = True, user_text: bool = False,
                 full_as_http: bool = False, voices: bool = False,
                 net_jitter_s: float = 0.0, hold_handshake: bool = False,
                 one_page_reader: bool = False, prelude: tuple[bytes, ...] = (),
                 script: tuple[bytes, ...] = ()) -> None:
        self.token = token
        self.max_sessions = max_sessions
        self.every = every  # frames between text pieces
        self.extensions = extensions  # answer arcus=1 with 0x04 events, as ours does
        self.junk = junk  # send kinds the protocol does not define (clients ignore them)
        self.user_text = user_text
        self.full_as_http = full_as_http  # refuse with HTTP 503 instead of a 1013 close
        self.voices = voices  # take uploaded voices (POST /api/voices), as ours does
        self.net_jitter_s = net_jitter_s  # hold each answer up to this long (benchmarks)
        self.hold_handshake = hold_handshake  # the persona takes until release() is called
        # Read as NVIDIA's server does with the sphn 0.1.x its fork pins: one Ogg page
        # per message decoded, the rest kept for the next.
        self.one_page_reader = one_page_reader
        # What a broken or hostile server says: messages sent before the handshake, and
        # right after it (after the session event), before it answers any audio.
        self.prelude, self.script = prelude, script
        self.uploads: list[bytes] = []
        self._voices: set[str] = set()  # the uploaded voices' names it still knows
        self.queries: list[dict] = []  # each conversation's query parameters
        self.headers: list[dict] = []
        self.frames_in = 0
        self.frames_out = 0
        self.refused: list[str] = []
        self._sessions: dict[web.WebSocketResponse, web.Request] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- the test's side -----------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def sessions(self) -> int:
        return len(self._sessions)

    def __enter__(self) -> StandIn:
        started = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(started,), daemon=True)
        self._thread.start()
        started.wait(10)
        return self

    def __exit__(self, *exc) -> None:
        """Gone, as a stopped server is: open connections cut, nothing listening."""
        self.drop_all()
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def release(self) -> None:
        """Let held handshakes go (see hold_handshake)."""
        self._loop.call_soon_threadsafe(self._go.set)

    def forget_voices(self) -> None:
        """As a restarted server: the uploaded voices are gone."""
        self._voices.clear()

    def drop_all(self) -> None:
        """Cut every connection without a close frame, as a crash or a lost network would."""
        def drop():
            for request in list(self._sessions.values()):
                request.transport.abort()
        self._loop.call_soon_threadsafe(drop)

    # -- the server ----------------------------------------------------------------------

    def _run(self, started: threading.Event) -> None:
        self._loop = asyncio.new_event_loop()
        self._go = asyncio.Event()
        app = web.Application()
        app.router.add_get("/api/chat", self._chat)
        if self.voices:
            app.router.add_post("/api/voices", self._upload)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = self._runner.addresses[0][1]
        started.set()
        self._loop.run_forever()

    async def _upload(self, request: web.Request):
        if self.token and request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"error": "unauthorized"}, status=401)
        self.uploads.append(await request.read())
        self._voices.add(name := f"custom-{len(self.uploads):04d}")
        return web.json_response({"voice_prompt": name,
                                  "seconds": 9.6, "trimmed_seconds": 0.0})

    async def _chat(self, request: web.Request):
        if self.token and request.headers.get("Authorization") != f"Bearer {self.token}" \
                and request.query.get("token") != self.token:
            self.refused.append("unauthorized")
            return web.json_response({"error": "unauthorized",
                                      "message": "The token is missing or wrong."},
                                     status=401, headers={"WWW-Authenticate": "Bearer"})
        full = len(self._sessions) >= self.max_sessions
        if full and self.full_as_http:
            self.refused.append("full")
            return web.Response(status=503, text=f"All {self.max_sessions} conversation "
                                                 "slots are in use.")
        ws = web.WebSocketResponse(max_msg_size=64 * 1024)
        await ws.prepare(request)
        arcus = self.extensions and request.query.get("arcus") == "1"
        if full:
            self.refused.append("full")
            said = f"All {self.max_sessions} conversation slots are in use."
            if arcus:
                await ws.send_bytes(b"\x04" + json.dumps({"type": "error", "code": "full",
                                                          "message": said}).encode())
            await ws.send_bytes(b"\x05" + said.encode())
            await ws.close(code=1013, message=b"full: no free conversation slot")
            return ws
        if not self.extensions:
            # NVIDIA's handler reads a `seed` parameter from the request's own storage,
            # not its query: a KeyError after the upgrade, and the connection just drops.
            if "seed" in request.query:
                self.refused.append("seed")
                raise KeyError("seed")
        voice = request.query.get("voice_prompt", "")
        if voice.startswith("custom-") and voice not in self._voices:
            said = "No voice has that name; upload it again."
            if arcus:
                await ws.send_bytes(b"\x04" + json.dumps({"type": "error", "code": "unknown_voice",
                                                          "message": said}).encode())
            await ws.send_bytes(b"\x05" + said.encode())
            await ws.close(code=1008, message=b"unknown_voice: no such voice")
            self.refused.append("unknown_voice")
            return ws
        self._sessions[ws] = request
        self.queries.append(dict(request.query))
        self.headers.append(dict(request.headers))
        try:
            await self._converse(ws, arcus)
        finally:
            self._sessions.pop(ws, None)
        return ws

    async def _converse(self, ws: web.WebSocketResponse, arcus: bool) -> None:
        import numpy as np
        import sphn

        if self.hold_handshake:
            await self._go.wait()
        for message in self.prelude:
            await ws.send_bytes(message)
        await ws.send_bytes(b"\x00")
        if arcus:
            await ws.send_bytes(b"\x04" + json.dumps({
                "type": "session", "protocol": 1, "session": "stand-in", "voice": "NATF2",
                "notes": [], "user_text": self.user_text}).encode())
        for message in self.script:
            await ws.send_bytes(message)
        if self.junk:
            await ws.send_bytes(b"\x09not a kind anyone knows")
            await ws.send_bytes(b"\x04" + json.dumps({"type": "from-the-future"}).encode())
            await ws.send_bytes(b"\x04{not json")
            await ws.send_str("a text frame")
            await ws.send_bytes(b"\x00")  # a second handshake
        reader, writer = sphn.OpusStreamReader(24_000), sphn.OpusStreamWriter(24_000)
        if self.one_page_reader:
            from .server.wire import OnePagePerAppend

            reader = OnePagePerAppend()
        pending = np.zeros(0, np.float32)
        n = spoken = 0
        due = 0.0
        async for message in ws:
            if message.type != WSMsgType.BINARY or not message.data:
                continue
            kind, payload = message.data[0], message.data[1:]
            if kind == 0x06:
                await ws.send_bytes(b"\x06" + payload)
            if kind != 0x01:
                continue
            pcm = reader.append_bytes(payload)
            if pcm is not None and pcm.size:
                pending = np.concatenate([pending, np.asarray(pcm, np.float32).reshape(-1)])
            while pending.size >= FRAME:
                frame, pending = pending[:FRAME], pending[FRAME:]
                n += 1
                self.frames_in += 1
                if np.sqrt(np.mean(frame ** 2)) > 0.01:  # words only while it speaks
                    spoken += 1
                    if spoken % self.every == 0:  # a step's text goes before its audio
                        await ws.send_bytes(b"\x02" + WORDS[(spoken // self.every - 1)
                                                            % len(WORDS)].encode())
                if arcus and self.user_text and n % 10 == 0:
                    await ws.send_bytes(b"\x04" + json.dumps({
                        "type": "user_text", "text": " you", "start": (n - 6) * 0.08}).encode())
                if arcus and n % 25 == 0:
                    await ws.send_bytes(b"\x04" + json.dumps({
                        "type": "stats", "frames": n, "frame_ms_p50": 3.0,
                        "frame_ms_p99": 5.0, "backlog_frames": 0, "sessions": self.sessions,
                        "max_sessions": self.max_sessions}).encode())
                data = writer.append_pcm(frame)
                if data and self.net_jitter_s:  # a slow, uneven network: late, in order
                    due = max(due, asyncio.get_running_loop().time()
                              + random.uniform(0, self.net_jitter_s))
                    asyncio.get_running_loop().call_at(
                        due, lambda d=data: asyncio.ensure_future(ws.send_bytes(b"\x01" + d)))
                    self.frames_out += 1
                elif data:
                    await ws.send_bytes(b"\x01" + data)
                    self.frames_out += 1
                if self.junk and n % 7 == 0:
                    await ws.send_bytes(b"\x0b" + bytes(range(40)))
