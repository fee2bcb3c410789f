"""`arcus-desktop serve`: load the model, start the batch loop, listen; on SIGTERM or
Ctrl+C drain (finish the conversations, take no new ones), a second signal stops at once."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from ..core.errors import ArcusError, DeviceError
from ..core.modes import BF16
from . import agent, gate, tls
from .app import Server
from .config import ServerConfig, check

log = logging.getLogger(__name__)
BACKLOG = 128  # connections the kernel holds before they are accepted


def open_server(config: ServerConfig, model_dir=None, device: str | None = None,
                mode: str = BF16, context: int | None = None, stt_dir=None,
                user_words: bool = True, engine=None, frame_period: float | None = None) -> Server:
    """Load the engine (unless given one) and start its batch loop with a slot per session."""
    from ..engine.batch_loop import FRAME_PERIOD_S, BatchLoop
    from ..engine.engine import Engine

    if engine is None:
        engine = Engine.load(model_dir, device, quant_mode=mode, context=context,
                             stt_dir=stt_dir, user_words=user_words)
        engine.warm_up()
    loop = BatchLoop(engine, config.max_sessions, user_words=user_words,
                     frame_period=FRAME_PERIOD_S if frame_period is None else frame_period)
    try:
        loop.start()
    except Exception as e:
        if type(e).__name__ != "OutOfMemoryError":  # torch's, by name: server/ holds no torch
            raise
        raise DeviceError(
            f"The GPU has no room for {config.max_sessions} conversation slots.",
            "Start serve with fewer --max-sessions: each slot holds about 1.5 GiB of GPU "
            "memory beside the model's 16 GiB (an 80 GB card takes about 40).") from e
    return Server(engine, loop, config)


class _BadRequests(logging.Filter):
    """A malformed request (an over-long URL, a broken header) is the client's doing:
    one line in the log, without aiohttp's traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            remote = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
            record.msg, record.args = "bad request from %s (%s)", (remote, type(exc).__name__)
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


_http_log = logging.getLogger("arcus_desktop.server.http")
_http_log.addFilter(_BadRequests())


async def listen(server: Server) -> web.AppRunner:
    """Start answering on the configured address, every connection through the gate
    (gate.py); returns the runner to clean up."""
    config = server.config
    limits = config.limits
    # auto_decompress off: aiohttp would inflate a compressed body in its parser, before
    # the token check and with no cap (1 MiB of gzip is 1 GiB); app.py answers 415.
    options = dict(access_log=None, logger=_http_log, keepalive_timeout=limits.keepalive_s,
                   max_line_size=gate.MAX_URL_BYTES, max_field_size=gate.MAX_FIELD_BYTES,
                   auto_decompress=False)
    runner = web.AppRunner(server.app(), handle_signals=False, **options)
    await runner.setup()
    ssl_context = tls.context(config.ssl_dir) if config.tls else None
    loop = asyncio.get_running_loop()

    def handler() -> gate.Handler:
        made = gate.Handler(runner.server, loop=loop, **options)
        made.message_bytes = limits.message_bytes
        return made

    # The kernel's queue of connections not yet accepted also takes descriptors once
    # they are: smaller under a small open-files limit.
    backlog = min(BACKLOG, max(16, gate.raise_open_files_limit() // 8))
    server.gate = gate.Gate(limits, ssl_context, handler, backlog)
    if server.gate.total_cap < limits.unauthorised_total:
        log.info("the open-files limit allows %d connections waiting for their request "
                 "(--limit unauthorised_total=%d)", server.gate.total_cap, limits.unauthorised_total)
    site = gate.GatedSite(runner, config.host, config.port, server.gate, backlog)
    await site.start()
    if config.agent_port is not None:
        server.agent = agent.Agent(server, config.agent_host, config.agent_port)
        await server.agent.start()
    server.codecs.start(loop)  # once listening: a taken port leaves no worker behind
    return runner


async def stop(server: Server, runner: web.AppRunner) -> None:
    if server.agent is not None:
        await server.agent.close()
    if server.gate is not None:
        server.gate.shut_all()
    await server.shut_down()
    await runner.cleanup()
    server.codecs.close()
    await asyncio.to_thread(server.loop.close)


async def _main(server: Server) -> None:
    config = server.config
    runner = await listen(server)
    # Before saying it serves: a SIGTERM sent as soon as the log says so must drain.
    signals = asyncio.Queue()
    aio = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        aio.add_signal_handler(sig, signals.put_nowait, sig)
    scheme = "https" if config.tls else "http"
    print(f"serving {server.config.max_sessions} conversation slots on "
          f"{scheme}://{config.host}:{config.port} (websocket /api/chat"
          f"{', token required' if config.token else ''}); Ctrl+C drains and stops",
          file=sys.stderr, flush=True)
    if server.agent is not None:
        print(f"load balancer agent check and readiness on {config.agent_host}:{server.agent.port}",
              file=sys.stderr, flush=True)
    if config.tls and (fingerprint := tls.fingerprint_of(config.ssl_dir)):
        # What teammates compare with what their app shows (Settings > Engine).
        print(f"certificate SHA-256 fingerprint: {fingerprint}", file=sys.stderr, flush=True)
    await signals.get()
    server.draining = True
    print(f"draining: {server.loop.sessions} conversations go on (up to {config.drain_s:g} s); "
          "a second Ctrl+C stops at once", file=sys.stderr, flush=True)
    drained = asyncio.ensure_future(asyncio.to_thread(
        server.loop.wait_for, lambda lp: lp.sessions == 0, config.drain_s))
    again = asyncio.ensure_future(signals.get())
    await asyncio.wait({drained, again}, return_when=asyncio.FIRST_COMPLETED)
    again.cancel()
    await stop(server, runner)


def serve(server: Server) -> None:
    config = server.config
    check(config)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(_main(server))
    except OSError as e:  # the port is taken, or the address is not this computer's
        server.loop.close()
        raise ArcusError(f"Cannot listen on {config.host}:{config.port} ({e.strerror or e}).",
                         "Is another server running there? Pick another --port or --host.") from e
