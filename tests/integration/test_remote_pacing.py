"""The remote engine times its microphone frames to the team server's shared step: two
conversations on the real server (the tiny model on the CPU, the real 80 ms period),
their microphones half a period apart. At first the earlier one's frames wait about half
a period for the step; once it has the server's figures it holds each frame instead, so
that both arrive just before the step.

The microphones are a clock here (as bench/remote_loopback.py's): the behaviour is about
time. The bounds are wide (a busy machine jitters): what is asserted is the change, from
about 40 ms to a few."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

import arcus_desktop
from arcus_desktop.remote.client import RemoteLoop
from arcus_desktop.remote.jitter import FRAME_S

from .test_remote_client import FAST, TONE, Events

if not (Path(arcus_desktop.__file__).parent / "server" / "run.py").is_file():
    pytest.skip("the team server is not in this tree", allow_module_level=True)
from arcus_desktop.server import run  # noqa: E402

FRAMES = 125  # 10 s: five stats events each


@pytest.fixture(scope="module")
def server_url(tiny_model):
    import torch

    from arcus_desktop.engine.engine import Engine
    from arcus_desktop.server.config import ServerConfig

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # leave the other core to the event loops
    engine = Engine.load(tiny_model, "cpu", user_words=False)
    server = run.open_server(ServerConfig(host="127.0.0.1", port=0, max_sessions=2),
                             engine=engine, user_words=False)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    runner = asyncio.run_coroutine_threadsafe(run.listen(server), loop).result(60)
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}"
    asyncio.run_coroutine_threadsafe(run.stop(server, runner), loop).result(60)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(30)
    torch.set_num_threads(threads)


def test_frames_come_to_arrive_just_before_the_shared_step(server_url):
    loops = [RemoteLoop(server_url, None, {"text": f"You are helper {k}."}, None, None,
                        Events(), FAST) for k in range(2)]
    for loop in loops:
        loop.start()
    for loop in loops:
        assert loop.wait_ready(60), loop.error
    failed = threading.Event()  # the clock stops early if a conversation fails
    start = time.monotonic()
    for i in range(FRAMES):
        for k, loop in enumerate(loops):  # microphones half a period apart
            tick = start + (i + k / 2) * FRAME_S
            failed.wait(max(0.0, tick - time.monotonic()))
            loop.process(TONE)
            if loop.error is not None:
                failed.set()
    for loop in loops:
        loop.close()
    assert all(loop.error is None for loop in loops), [loop.error for loop in loops]
    first = [loop.pacer.reports[0][0] for loop in loops]  # p50 of the first 25 frames
    last = [loop.pacer.reports[-1][0] for loop in loops]
    assert max(first) > 20, first  # one of them waited about half a period
    assert max(last) < 15, (first, last)  # both now arrive just before the step
    assert all(loop.pacer.moves <= 3 for loop in loops)  # it settled
    assert all(loop.received >= FRAMES - 10 for loop in loops)
