"""The real team server (`arcus_desktop.server`) on loopback in a thread of the test
process, with the tiny model on the CPU: for tests that drive it with the app's own
remote engine."""

from __future__ import annotations

import asyncio
import contextlib
import threading


@contextlib.contextmanager
def serving(model_dir, config, **options):
    """Yields the server's http:// address; `options` go to run.open_server."""
    import torch

    from arcus_desktop.engine.engine import Engine
    from arcus_desktop.server import run

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # leave the other core to the event loops
    engine = Engine.load(model_dir, "cpu", user_words=False)
    server = run.open_server(config, engine=engine, user_words=False, **options)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        runner = asyncio.run_coroutine_threadsafe(run.listen(server), loop).result(60)
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
        asyncio.run_coroutine_threadsafe(run.stop(server, runner), loop).result(60)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        torch.set_num_threads(threads)
