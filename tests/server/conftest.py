import asyncio
import threading

import pytest

from arcus_desktop.server.config import Limits, ServerConfig


class Running:
    """A server on loopback, its event loop on a thread of its own, for the tests' own
    event loops (asyncio.run) to talk to over real sockets."""

    def __init__(self, server) -> None:
        self.server = server
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        from arcus_desktop.server.run import listen

        self.runner = self.call(listen(server))
        host, port = self.runner.addresses[0][:2]
        scheme = "wss" if server.config.tls else "ws"
        self.base = f"{scheme}://{host}:{port}"
        self.http = f"{'https' if server.config.tls else 'http'}://{host}:{port}"

    def call(self, coro, timeout: float = 120):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def sessions(self) -> int:
        return self.server.loop.sessions

    def wait_idle(self, timeout: float = 60) -> None:
        """Every conversation has ended and its slot is free again."""
        assert self.server.loop.wait_for(lambda lp: lp.sessions == 0, timeout), self.sessions()

    def close(self) -> None:
        from arcus_desktop.server.run import stop

        self.call(stop(self.server, self.runner))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        self.loop.close()


@pytest.fixture(scope="module")
def engine(tiny_model):
    """An engine of the module's own: a running server holds its codec's streams. Torch
    gets one core fewer than there are, as `serve` does: its spinning workers would
    starve the event loops (a tiny-model step went from 20 ms to 200 ms on 2 cores)."""
    import os

    import torch

    from arcus_desktop.engine.engine import Engine

    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))
    yield Engine.load(tiny_model, "cpu", user_words=False)
    torch.set_num_threads(threads)


def start_server(engine, max_sessions: int = 4, user_words: bool = False, **config) -> Running:
    from arcus_desktop.server.run import open_server

    config.setdefault("limits", Limits())
    cfg = ServerConfig(host="127.0.0.1", port=0, max_sessions=max_sessions, **config)
    return Running(open_server(cfg, engine=engine, user_words=user_words, frame_period=0.02))
