"""Clients that hide that they do not read, and frame floods that the message limits do
not see (audit F3, F4). Each client speaks raw websocket frames over a bare socket, so
that it reads exactly what it chooses to. Limits are short; every wait is bounded."""

import asyncio
import base64
import logging
import os
import socket
import struct
from contextlib import contextmanager
from dataclasses import replace

import pytest
import sphn

from arcus_desktop.audio.files import read_mono
from arcus_desktop.engine import constants as C
from arcus_desktop.server import session as session_module
from arcus_desktop.server.config import Limits

from ..conftest import AUDIO
from .conftest import start_server
from .wire import FRAME

QUERY = "/api/chat?text_prompt=Hi.&voice_prompt=NATF2.pt"
PING, PONG, CLOSE, BINARY, MORE = 0x9, 0xA, 0x8, 0x2, 0x0
ATTACK_S = 20.0  # no attack runs longer


@pytest.fixture(scope="module")
def speech():
    return read_mono(AUDIO / "input_service.wav", C.SAMPLE_RATE)


@pytest.fixture(scope="module")
def running(engine):
    server = start_server(engine, max_sessions=2,
                          limits=Limits(ping_s=0.5, unread_s=2.0, idle_s=5.0))
    yield server
    server.close()


@contextmanager
def limits(running, **changes):
    """Other limits for the conversations started meanwhile."""
    saved = running.server.config.limits
    running.server.config.limits = replace(saved, **changes)
    try:
        yield
    finally:
        running.server.config.limits = saved


def frame(opcode: int, payload: bytes = b"", fin: bool = True) -> bytes:
    """A client frame (masked, with a zero mask)."""
    n = len(payload)
    size = bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n)
    return bytes([(0x80 if fin else 0) | opcode]) + size + bytes(4) + payload


class Raw:
    """A websocket client on a bare socket: it reads only when the test says so."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.loop = asyncio.get_running_loop()

    @classmethod
    async def open(cls, running, rcvbuf: int | None = None) -> "Raw":
        sock = socket.socket()
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        host, port = running.http.rsplit("/", 1)[1].split(":")
        await loop.sock_connect(sock, (host, int(port)))
        key = base64.b64encode(os.urandom(16)).decode()
        await loop.sock_sendall(sock, (
            f"GET {QUERY} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n").encode())
        head = b""
        while not head.endswith(b"\r\n\r\n"):  # a byte at a time: nothing past the head
            head += await asyncio.wait_for(loop.sock_recv(sock, 1), 30)
        assert b" 101 " in head.split(b"\r\n")[0], head
        return cls(sock)

    def close(self) -> None:
        self.sock.close()

    async def send(self, data: bytes) -> None:
        await self.loop.sock_sendall(self.sock, data)

    async def _exact(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            got = await self.loop.sock_recv(self.sock, n - len(out))
            if not got:
                raise ConnectionResetError("closed")
            out += got
        return out

    async def read(self) -> tuple[int, bytes]:
        head = await self._exact(2)
        n = head[1] & 0x7F
        if n >= 126:
            n = int.from_bytes(await self._exact(2 if n == 126 else 8), "big")
        return head[0] & 0x0F, await self._exact(n)

    async def handshake(self) -> bytes:
        """Read, answering pings, until 0x00; the last ping's payload."""
        last = b""
        while True:
            op, data = await asyncio.wait_for(self.read(), 60)
            if op == PING:
                last = data
                await self.send(frame(PONG, data))
            elif op == BINARY and data == b"\x00":
                return last

    async def read_close(self, timeout: float = ATTACK_S) -> tuple[int, str, list[bytes]]:
        """Read, answering pings, to the server's close frame: its code and reason, and
        the 0x05 errors."""
        errors = []

        async def until_close():
            while True:
                op, data = await self.read()
                if op == PING:
                    await self.send(frame(PONG, data))
                elif op == BINARY and data[:1] == b"\x05":
                    errors.append(data[1:])
                elif op == CLOSE:
                    return int.from_bytes(data[:2], "big"), data[2:].decode()

        code, reason = await asyncio.wait_for(until_close(), timeout)
        return code, reason, errors


def refused(running, reason: str) -> int:
    return running.server.refused[reason]


def wait_free(running, timeout: float) -> bool:
    """Whether every slot is free within `timeout` s."""
    return running.server.loop.wait_for(lambda lp: lp.sessions == 0, timeout)


def test_forged_pongs_do_not_hide_a_client_that_reads_nothing(running, speech, caplog):
    """After the handshake it reads nothing, sends audio in real time and pongs for
    every ping payload it could guess (an old server's were a counter): it is cut off
    about `unread_s` (2 s) after it stopped reading, its slot freed."""
    before = refused(running, "slow_client")

    async def go():
        c = await Raw.open(running)
        try:
            seen = int.from_bytes(await c.handshake(), "big")
            writer = sphn.OpusStreamWriter(C.SAMPLE_RATE)
            start = asyncio.get_running_loop().time()
            for i in range(int(ATTACK_S / 0.08)):
                guess = seen + int(i * 0.08 / 0.5)  # a ping every ping_s at most
                try:
                    for n in range(max(1, guess - 3), guess + 4):
                        await c.send(frame(PONG, n.to_bytes(8, "big")))
                    j = i % (speech.size // FRAME)
                    ogg = writer.append_pcm(speech[j * FRAME:(j + 1) * FRAME])
                    await c.send(frame(BINARY, b"\x01" + ogg))
                except ConnectionError:
                    return asyncio.get_running_loop().time() - start
                await asyncio.sleep(0.08)  # real time
            return None
        finally:
            c.close()

    with caplog.at_level(logging.WARNING):
        cut_after = asyncio.run(go())
    assert cut_after is not None and cut_after < 10, cut_after
    assert wait_free(running, 30)
    assert refused(running, "slow_client") == before + 1
    assert "has read nothing" in caplog.text


def test_a_sender_stuck_behind_a_full_send_buffer_does_not_hold_the_slot(running, speech,
                                                                         monkeypatch, caplog):
    """A client that reads nothing until the server's sender waits on a full send
    buffer, then goes silent: the idle error can never be sent, yet the connection is
    cut `END_WAIT_S` after it (the unread rule is off here, as forged pongs made it)."""
    monkeypatch.setattr(session_module, "END_WAIT_S", 2.0, raising=False)
    loop_s = running.server.loop.frame_period  # the test server steps 4 times real time

    async def shrink_buffers():  # on the server's loop: minutes of replies become seconds
        (session,) = running.server.sessions
        transport = session.request.transport
        transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        transport.set_write_buffer_limits(high=0)

    async def state() -> tuple[int, int]:  # replies waiting to be sent, audio to be stepped
        (session,) = running.server.sessions
        return session.events.qsize(), session.slot.backlog

    async def go():
        c = await Raw.open(running, rcvbuf=4096)
        try:
            await c.handshake()
            running.call(shrink_buffers())
            writer = sphn.OpusStreamWriter(C.SAMPLE_RATE)
            sent = 0
            for _ in range(int(ATTACK_S / loop_s)):
                waiting, backlog = running.call(state())
                if waiting >= 5:  # the sender is stuck
                    break
                if backlog < 20:  # as fast as the server steps, never over backlog_s
                    j = sent % (speech.size // FRAME)
                    ogg = writer.append_pcm(speech[j * FRAME:(j + 1) * FRAME])
                    await c.send(frame(BINARY, b"\x01" + ogg))
                    sent += 1
                await asyncio.sleep(loop_s)
            else:
                pytest.fail("the server's sender never waited on the send buffer")
            # Silent from now on: idle_s (1 s), then the error the sender cannot send.
            return await asyncio.to_thread(wait_free, running, 1 + 2.0 + 15)
        finally:
            c.close()

    with limits(running, idle_s=1.0, unread_s=300.0), caplog.at_level(logging.WARNING):
        freed = asyncio.run(go())
    assert freed, "the slot is still held"
    assert "has not ended" in caplog.text
    assert wait_free(running, 30)


def _flood(running, data: bytes) -> tuple[int, str, list[bytes]]:
    """Send `data` at once, reading meanwhile; how the server closed."""
    async def go():
        c = await Raw.open(running)
        try:
            await c.handshake()
            sending = asyncio.create_task(c.send(data))
            closed = await c.read_close()
            sending.cancel()
            await asyncio.gather(sending, return_exceptions=True)
            return closed
        finally:
            c.close()

    return asyncio.run(go())


def test_a_message_of_endless_empty_fragments_is_closed(running):
    """One message never finished: 100 000 empty continuation frames after its first
    (the message limits count whole messages only). Closed with 1008, slot freed."""
    code, reason, errors = _flood(running, frame(BINARY, b"\x01", fin=False)
                                  + frame(MORE, fin=False) * 100_000)
    assert code == 1008 and reason.startswith("rate_limited:"), (code, reason)
    assert "fragments" in reason, reason
    assert errors
    assert wait_free(running, 30)


def test_frames_over_the_frame_rate_are_closed(running):
    """300 messages of 60 frames each, mostly empty, at once: under the fragment cap
    and the message rate (200/s, 2 s of burst), but 18 000 frames, over the frame rate
    (1000/s, 2 s of burst). Closed with 1008, slot freed."""
    message = frame(BINARY, b"\x03", fin=False) + frame(MORE, fin=False) * 58 + frame(MORE)
    code, reason, errors = _flood(running, message * 300)
    assert code == 1008 and reason.startswith("rate_limited:"), (code, reason)
    assert "frames a second" in reason, reason
    assert errors
    assert wait_free(running, 30)


def test_a_message_in_too_many_fragments_is_closed(running, speech):
    """64 fragments are one message (its audio is heard, a ping after it answered);
    65 close the connection with 1008."""
    async def go():
        c = await Raw.open(running)
        try:
            await c.handshake()
            ogg = b"\x01" + sphn.OpusStreamWriter(C.SAMPLE_RATE).append_pcm(speech[:FRAME])
            cuts = [len(ogg) * k // 64 for k in range(65)]
            pieces = [ogg[a:b] for a, b in zip(cuts, cuts[1:])]
            await c.send(b"".join(frame(BINARY if k == 0 else MORE, p, fin=k == 63)
                                  for k, p in enumerate(pieces)))
            await c.send(frame(BINARY, b"\x06echo"))
            while (await asyncio.wait_for(c.read(), ATTACK_S))[1] != b"\x06echo":
                pass
            await c.send(b"".join(frame(BINARY if k == 0 else MORE, b"\x01", fin=False)
                                  for k in range(65)))
            return await c.read_close()
        finally:
            c.close()

    code, reason, errors = asyncio.run(go())
    assert code == 1008 and "64 fragments" in reason, (code, reason)
    assert errors
    assert wait_free(running, 30)
