"""The load balancer's view of this server, on a port of its own (`serve --agent-port`).

HAProxy's agent check connects, may send a line (`agent-send`), and reads one line back:
`up ready N%` (N: the free slots as a share of all, so that a server configured with
`weight` = its slots weighs exactly its free slots), `up ready 0%` when full (weight 0:
no new conversation, the running ones go on), `drain` while draining, `down` when the
engine has failed. An HTTP GET on the same port is answered 200 when a conversation can
start and 503 otherwise (a Kubernetes readiness probe: it cannot send the token, and
this port tells nothing else). No token: what it reveals is the free share only.

Each address may hold PER_ADDRESS connections at once (one more is closed unanswered),
and a connection that sends nothing is answered after SILENT_S: one address's silent
connections cannot take the places of the load balancer's checks.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter

SILENT_S = 0.25  # to send a first byte; HAProxy without agent-send sends none
READ_S = 1.0  # then to send its line (HAProxy's agent-send) or an HTTP request's head
HEAD_BYTES = 4096  # what a request may send before it is answered
MAX_CONNECTIONS = 32  # at once; one more is closed unanswered
PER_ADDRESS = 4  # at once from one address; one more is closed unanswered


def state(server) -> tuple[str, int, int]:
    """(`ok`, `full`, `draining` or `failed`; free slots; all slots)."""
    stats = server.loop.stats()
    free = max(0, stats.max_sessions - stats.sessions)
    if server.loop.failed:
        return "failed", 0, stats.max_sessions
    if server.draining:
        return "draining", 0, stats.max_sessions
    return ("ok" if free else "full"), free, stats.max_sessions


def agent_line(server) -> str:
    status, free, slots = state(server)
    if status == "failed":
        return "down\n"
    if status == "draining":
        return "drain\n"
    # Rounded up: one free slot of many must not weigh 0.
    share = math.ceil(100 * free / slots) if free else 0
    return f"up ready {share}%\n"  # `ready` ends a drain from an earlier run at this address


def http_answer(server) -> bytes:
    status, free, slots = state(server)
    body = f"{status} {free}/{slots} free\n".encode()
    head = "200 OK" if status == "ok" else "503 Service Unavailable"
    return (f"HTTP/1.0 {head}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
            "Cache-Control: no-store\r\nConnection: close\r\n\r\n").encode() + body


class Agent:
    """The agent port's listener; `start` and `close` from the server's event loop."""

    def __init__(self, server, host: str, port: int) -> None:
        self.server = server
        self.host = host
        self.port = port
        self.connections = 0
        self.per_address: Counter[str] = Counter()
        self._listener: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        self._listener = await asyncio.start_server(self._answer, self.host, self.port,
                                                    limit=HEAD_BYTES)
        self.port = self._listener.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
            await self._listener.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        address = str(peer[0]) if peer else ""
        if self.connections >= MAX_CONNECTIONS or self.per_address[address] >= PER_ADDRESS:
            writer.transport.abort()
            return
        self.connections += 1
        self.per_address[address] += 1
        try:
            await self._serve(reader, writer)
        finally:
            self.connections -= 1
            self.per_address[address] -= 1
            if self.per_address[address] <= 0:
                del self.per_address[address]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            http = await self._is_http(reader)
        except (OSError, ValueError):  # a line over HEAD_BYTES, a reset
            writer.transport.abort()
            return
        try:
            writer.write(http_answer(self.server) if http else agent_line(self.server).encode())
            await asyncio.wait_for(writer.drain(), READ_S)
            writer.close()
        except (OSError, asyncio.TimeoutError):
            writer.transport.abort()

    async def _is_http(self, reader: asyncio.StreamReader) -> bool:
        try:
            first = await asyncio.wait_for(reader.read(1), SILENT_S)
        except asyncio.TimeoutError:
            return False  # HAProxy without agent-send sends nothing: it waits for the line
        try:
            return bool(first) and await asyncio.wait_for(self._head(reader, first), READ_S)
        except asyncio.TimeoutError:
            return False

    @staticmethod
    async def _head(reader: asyncio.StreamReader, first: bytes) -> bool:
        """Whether this is an HTTP request; its whole head is read first (closing with
        unread bytes would reset the connection before the client read the answer)."""
        line = first if first == b"\n" else first + await reader.readline()
        if not line.startswith((b"GET ", b"HEAD ")):
            return False
        taken = len(line)
        while line not in (b"", b"\r\n", b"\n"):
            line = await reader.readline()
            taken += len(line)
            if taken > HEAD_BYTES:
                raise ValueError("head too big")
        return True
