"""`arcus-desktop serve`: load the model, start the batch loop, listen; on SIGTERM or
Ctrl+C drain (finish the conversations, take no new ones), a second signal stops at once."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from aiohttp import web

from ..core.errors import ArcusError
from . import tls
from .app import Server
from .config import ServerConfig, check

log = logging.getLogger(__name__)


def open_server(config: ServerConfig, model_dir=None, device: str | None = None,
                mode: str = "bf16", context: int | None = None, stt_dir=None,
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
    loop.start()
    return Server(engine, loop, config)


async def listen(server: Server) -> web.AppRunner:
    """Start answering on the configured address; returns the runner to clean up."""
    config = server.config
    runner = web.AppRunner(server.app(), handle_signals=False, access_log=None)
    await runner.setup()
    ssl_context = tls.context(config.ssl_dir) if config.tls else None
    site = web.TCPSite(runner, config.host, config.port, ssl_context=ssl_context)
    await site.start()
    return runner


async def stop(server: Server, runner: web.AppRunner) -> None:
    await server.shut_down()
    await runner.cleanup()
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
