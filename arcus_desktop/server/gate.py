"""The door in front of aiohttp: what a connection may do before its first request has
passed the token check (or, on a server without a token, before it has sent one).

Such a connection is "unauthorised". It has `header_s` from connecting (TLS handshake
included) to a request that passes, and may send HEAD_BYTES meanwhile; each address
may have `unauthorised_per_address` of them (one more is closed at once) and the server
`unauthorised_total` (one more closes the oldest: a real client needs milliseconds, so
a flood of silent connections churns among itself). The total is also kept well under
the process's open-files limit, so that accepting never fails for want of descriptors.
Closing is an abort (a TCP reset): no goodbye is owed, and the descriptor is free at once.

Once authorised, a connection is the team's: aiohttp's keep-alive timeout closes it
when idle, and websockets follow docs/PROTOCOL.md's rules (session.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from collections import Counter, OrderedDict
from typing import Callable

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from .config import Limits
from .frames import FrameGuard

log = logging.getLogger(__name__)
HEAD_BYTES = 2**20  # what a connection may send before its request passes
RESERVED_FILES = 64  # descriptors kept for authorised connections, logs, threads
MAX_URL_BYTES = 64 * 1024  # the parser's line limit (a piece at a time; app.py checks the whole)
MAX_FIELD_BYTES = 8190
SLICE_BYTES = 4096  # an unauthorised connection's bytes are parsed this much at a time


def raise_open_files_limit() -> int:
    """Raise the soft limit on open files to the hard one; returns the soft limit."""
    try:
        import resource
    except ImportError:  # not a POSIX system
        return 8192
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1 << 20
    if hard == resource.RLIM_INFINITY or hard > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft


def _open_files() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return RESERVED_FILES


class Handler(RequestHandler):
    """aiohttp's connection handler, with two guards. A websocket frame that announces
    more than the message limit is never buffered (aiohttp reads a whole frame before it
    checks its size); `on_too_big` is set by the conversation. And until a request has
    passed the token check, what comes after the first request is held unparsed
    (`trust` lets it through): aiohttp parses every pipelined request it is given, some
    14,000 in 256 KiB, before the first is answered."""

    message_bytes = 64 * 1024
    on_too_big: Callable[[int], None] | None = None
    trusted = False
    guard: FrameGuard | None = None  # the websocket's, once the connection upgrades
    _held: bytearray | None = None  # what came after the first request, until trusted

    def data_received(self, data: bytes) -> None:
        if self.trusted:
            super().data_received(data)
        elif self._held is not None:
            self._held += data
        else:
            for start in range(0, len(data), SLICE_BYTES):
                super().data_received(data[start:start + SLICE_BYTES])
                if self._messages:  # a request (or a bad one) is whole
                    self._held = bytearray(data[start + SLICE_BYTES:])
                    return

    def trust(self) -> None:
        """A request on this connection passed the token check."""
        self.trusted = True
        held, self._held = self._held, None
        if held:
            super().data_received(bytes(held))

    def connection_lost(self, exc) -> None:
        task = self._task_handler
        super().connection_lost(exc)
        if not self.trusted and task is not None:
            task.cancel()  # it may wait for a refused request's body, held here: none comes

    def set_parser(self, parser, *args, **kwargs) -> None:
        # aiohttp 3.12 added `data_received_cb`: pass on whatever this version gives.
        self.guard = FrameGuard(parser, self.message_bytes, self._too_big)
        super().set_parser(self.guard, *args, **kwargs)

    def watch_frames(self, limits: Limits, flooded: Callable[[str], None]) -> None:
        """The conversation's frame limits, and where the guard reports a flood."""
        if self.guard is not None:
            self.guard.watch(limits, flooded)

    def _too_big(self, size: int) -> None:
        if self.on_too_big is not None:
            self.on_too_big(size)


class Gate:
    def __init__(self, limits: Limits, ssl_context: ssl.SSLContext | None,
                 make_handler: Callable[[], Handler], backlog: int) -> None:
        self.limits = limits  # read at each connection: tests change it while serving
        self.ssl_context = ssl_context
        self.make_handler = make_handler
        self.waiting: OrderedDict[_Door, None] = OrderedDict()  # oldest first
        self.per_address: Counter[str] = Counter()
        self.closed: Counter[str] = Counter()  # unauthorised connections closed, by reason
        self._by_transport: dict[int, _Door] = {}
        room = raise_open_files_limit() - _open_files() - backlog - RESERVED_FILES
        self.files_cap = max(8, room)

    @property
    def total_cap(self) -> int:
        return min(self.limits.unauthorised_total, self.files_cap)

    def door(self) -> asyncio.Protocol:
        return _Door(self)

    def authorised(self, transport) -> None:
        """A request on this connection passed the token check."""
        door = self._by_transport.get(id(transport))
        if door is not None:
            door.authorise()

    def shut_all(self) -> None:
        """The server stops: close every connection still waiting for its request."""
        for door in list(self.waiting):
            door.shut()

    # -- the doors' bookkeeping --------------------------------------------------------
    def _admit(self, door: "_Door") -> bool:
        if self.per_address[door.address] >= self.limits.unauthorised_per_address:
            self.closed["per_address"] += 1
            return False
        while len(self.waiting) >= self.total_cap:
            oldest = next(iter(self.waiting))
            self.closed["total"] += 1
            oldest.shut()
        self.waiting[door] = None
        self.per_address[door.address] += 1
        return True

    def _leave(self, door: "_Door") -> None:
        if door in self.waiting:
            del self.waiting[door]
            self.per_address[door.address] -= 1
            if self.per_address[door.address] <= 0:
                del self.per_address[door.address]


class _Door(asyncio.Protocol):
    """One connection: stands between the socket and aiohttp's handler, which it makes
    once admitted (after the TLS handshake, when there is TLS)."""

    def __init__(self, gate: Gate) -> None:
        self.gate = gate
        self.address = ""
        self.raw: asyncio.Transport | None = None
        self.handler: Handler | None = None
        self.received = 0
        self._waiting = False
        self._timer: asyncio.TimerHandle | None = None
        self._app_transport = None
        self._handshake: asyncio.Future | None = None
        self._early = bytearray()  # what TLS decrypted before start_tls returned

    # -- the socket's side --------------------------------------------------------------
    def connection_made(self, transport) -> None:
        self.raw = transport
        peer = transport.get_extra_info("peername")
        self.address = str(peer[0]) if peer else ""
        if not self.gate._admit(self):
            transport.abort()
            return
        self._waiting = True
        self._timer = asyncio.get_running_loop().call_later(self.gate.limits.header_s, self._expire)
        if self.gate.ssl_context is None:
            self._attach(transport)
        else:
            transport.pause_reading()  # nothing is read before the handshake starts
            self._handshake = asyncio.ensure_future(self._start_tls())

    async def _start_tls(self) -> None:
        try:
            app = await asyncio.get_running_loop().start_tls(
                self.raw, self, self.gate.ssl_context, server_side=True,
                ssl_handshake_timeout=max(0.1, self.gate.limits.header_s))
        except (OSError, asyncio.TimeoutError) as e:  # ssl.SSLError is an OSError
            log.debug("TLS handshake with %s failed: %r", self.address, e)
            self.shut()
            self._forget()
            return
        if app is None or self.raw.is_closing():  # closed during the handshake
            self._forget()
            return
        self._attach(app)

    def _attach(self, transport) -> None:
        self._app_transport = transport
        self.gate._by_transport[id(transport)] = self
        self.handler = self.gate.make_handler()
        self.handler.connection_made(transport)
        if self._early:
            early, self._early = bytes(self._early), bytearray()
            self.handler.data_received(early)

    def data_received(self, data: bytes) -> None:
        if self._waiting:
            self.received += len(data)
            if self.received > HEAD_BYTES:
                self.gate.closed["head_too_big"] += 1
                self.shut()
                return
        if self.handler is not None:
            self.handler.data_received(data)
        else:  # the handshake has finished, start_tls has not returned yet
            self._early += data

    def eof_received(self):
        return self.handler.eof_received() if self.handler is not None else None

    def pause_writing(self) -> None:
        if self.handler is not None:
            self.handler.pause_writing()

    def resume_writing(self) -> None:
        if self.handler is not None:
            self.handler.resume_writing()

    def connection_lost(self, exc) -> None:
        self._forget()
        if self.handler is not None:
            self.handler.connection_lost(exc)

    # -- the gate's side ----------------------------------------------------------------
    def authorise(self) -> None:
        if self._waiting:
            self._waiting = False
            self._cancel_timer()
            self.gate._leave(self)
            if self.handler is not None:
                self.handler.trust()

    def _expire(self) -> None:
        self._timer = None
        if self._waiting:
            self.gate.closed["header_timeout"] += 1
            self.shut()

    def shut(self) -> None:
        """Close at once, unheard (a reset)."""
        self._stop_waiting()
        if self.raw is not None:
            self.raw.abort()

    def _forget(self) -> None:
        self._stop_waiting()
        if self._app_transport is not None:
            self.gate._by_transport.pop(id(self._app_transport), None)

    def _stop_waiting(self) -> None:
        """No longer a connection waiting to be authorised: its timer and place go."""
        self._cancel_timer()
        if self._waiting:
            self._waiting = False
            self.gate._leave(self)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class GatedSite(web.BaseSite):
    """A TCP site whose connections go through a Gate (which also does the TLS)."""

    __slots__ = ("_host", "_port", "_gate")

    def __init__(self, runner: web.AppRunner, host: str, port: int, gate: Gate, backlog: int) -> None:
        super().__init__(runner, backlog=backlog)
        self._host = host
        self._port = port
        self._gate = gate

    @property
    def name(self) -> str:
        scheme = "https" if self._gate.ssl_context else "http"
        return f"{scheme}://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        self._server = await asyncio.get_running_loop().create_server(
            self._gate.door, self._host, self._port, backlog=self._backlog)
