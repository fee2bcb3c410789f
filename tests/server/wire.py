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
    audio_messages: int = 0
    old_samples: int = 0  # what a sphn 0.1.x client decoded (OnePagePerAppend)
    old_waiting: list[int] = field(default_factory=list)  # its undecoded bytes, per 0x01

    @property
    def samples(self) -> int:
        return sum(p.size for p in self.pcm)


def first_page(data: bytes | bytearray) -> int:
    """The length of the complete Ogg page at the start of `data`, 0 if it is not all
    there yet (RFC 3533: a 27-byte header, whose last byte counts the segment table's
    entries; the body is the sum of those entries)."""
    if len(data) < 27:
        return 0
    assert bytes(data[:4]) == b"OggS", bytes(data[:8])
    segments = data[26]
    if len(data) < 27 + segments:
        return 0
    size = 27 + segments + sum(data[27:27 + segments])
    return size if len(data) >= size else 0


class OnePagePerAppend:
    """A reader that decodes as sphn 0.1.x's OpusStreamReader does (the version NVIDIA's
    fork pins, which their clients use): each append_bytes decodes at most one Ogg page,
    the first complete one; the rest waits for the next call."""

    def __init__(self) -> None:
        self.waiting = bytearray()
        self.samples = 0
        self._reader = sphn.OpusStreamReader(RATE)

    def append_bytes(self, data: bytes) -> np.ndarray:
        self.waiting += data
        size = first_page(self.waiting)
        if not size:
            return np.zeros(0, np.float32)
        page, self.waiting = bytes(self.waiting[:size]), self.waiting[size:]
        pcm = self._reader.append_bytes(page)
        self.samples += pcm.size
        return pcm


class Client:
    def __init__(self, http: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.http = http
        self.ws = ws
        self.got = Received()
        self._writer = sphn.OpusStreamWriter(RATE)
        self._reader = sphn.OpusStreamReader(RATE)
        self._old = OnePagePerAppend()
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
            self.got.audio_messages += 1
            self._old.append_bytes(payload)
            self.got.old_samples = self._old.samples
            self.got.old_waiting.append(len(self._old.waiting))
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
