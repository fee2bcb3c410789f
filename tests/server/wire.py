"""A client written from docs/PROTOCOL.md alone, byte by byte: no server code is used,
so the tests check the documented protocol rather than our own reading of it."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from urllib.parse import urlencode

import aiohttp
import numpy as np
import sphn

RATE = 24000
FRAME = 1920
WAIT_S = 60.0


@dataclass
class Received:
    kinds: list[int] = field(default_factory=list)  # every message's first byte, in order
    ogg: bytearray = field(default_factory=bytearray)
    pcm: list[np.ndarray] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)  # 0x04 JSON
    errors: list[str] = field(default_factory=list)  # 0x05
    pongs: list[bytes] = field(default_factory=list)

    @property
    def samples(self) -> int:
        return sum(p.size for p in self.pcm)


class Client:
    def __init__(self, http: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.http = http
        self.ws = ws
        self.got = Received()
        self._writer = sphn.OpusStreamWriter(RATE)
        self._reader = sphn.OpusStreamReader(RATE)
        self.sent_pcm: list[np.ndarray] = []

    @classmethod
    async def open(cls, base: str, headers=None, ssl=True, **query) -> "Client":
        http = aiohttp.ClientSession()
        try:
            ws = await http.ws_connect(f"{base}/api/chat?{urlencode(query)}", headers=headers,
                                       ssl=ssl, autoping=True)
        except BaseException:
            await http.close()
            raise
        return cls(http, ws)

    async def close(self) -> None:
        await self.ws.close()
        await self.http.close()

    async def __aenter__(self) -> "Client":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def read(self, timeout: float = WAIT_S) -> aiohttp.WSMessage:
        """One message; binary ones are sorted into `got` by kind."""
        msg = await self.ws.receive(timeout=timeout)
        if msg.type != aiohttp.WSMsgType.BINARY:
            return msg
        data = msg.data
        kind = data[0]
        self.got.kinds.append(kind)
        payload = data[1:]
        if kind == 0x01:
            self.got.ogg += payload
            pcm = self._reader.append_bytes(payload)
            if pcm.size:
                self.got.pcm.append(pcm)
        elif kind == 0x02:
            self.got.texts.append(payload.decode("utf-8"))
        elif kind == 0x04:
            self.got.events.append(json.loads(payload.decode("utf-8")))
        elif kind == 0x05:
            self.got.errors.append(payload.decode("utf-8"))
        elif kind == 0x06:
            self.got.pongs.append(payload)
        return msg

    async def handshake(self) -> None:
        msg = await self.read()
        assert msg.type == aiohttp.WSMsgType.BINARY, (msg.type, msg.data, msg.extra, self.got.errors)
        assert msg.data == b"\x00", (msg.data[:80], self.got.errors)

    async def read_until(self, test, timeout: float = WAIT_S) -> None:
        async def loop():
            while not test(self.got):
                msg = await self.read()
                if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                    raise AssertionError(f"closed: {msg.data!r} {msg.extra!r} {self.got.errors}")
        await asyncio.wait_for(loop(), timeout)

    async def read_close(self, timeout: float = WAIT_S) -> tuple[int, str]:
        """Read to the end; the close code and reason."""
        while True:
            msg = await self.read(timeout)
            if msg.type == aiohttp.WSMsgType.CLOSE:
                return msg.data, msg.extra or ""
            if msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                return self.ws.close_code, ""

    def opus(self, pcm: np.ndarray) -> bytes:
        """Ogg/Opus bytes of the next part of this client's outgoing stream."""
        self.sent_pcm.append(pcm)
        return self._writer.append_pcm(np.ascontiguousarray(pcm, dtype=np.float32))

    async def send_audio(self, pcm: np.ndarray) -> None:
        await self.ws.send_bytes(b"\x01" + self.opus(pcm))

    async def stream(self, pcm: np.ndarray, ahead: int = 4) -> None:
        """Send `pcm` frame by frame, never more than `ahead` frames before the replies,
        then wait for the reply to the last frame (80 ms of audio per frame sent)."""
        frames = pcm.size // FRAME
        base = self.got.samples
        for i in range(frames):
            await self.read_until(lambda g: g.samples - base >= (i - ahead) * FRAME)
            await self.send_audio(pcm[i * FRAME:(i + 1) * FRAME])
        await self.read_until(lambda g: g.samples - base >= frames * FRAME)
