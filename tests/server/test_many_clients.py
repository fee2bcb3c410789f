"""Sixteen conversations at once on one server (the tiny model on the CPU), each a real
recording from its own starting point: every one hears its replies. Timings are printed
(`pytest -s`), not asserted: CPU speed says nothing about the GPU's."""

import asyncio
import time

import numpy as np
import pytest

from arcus_desktop.audio.files import read_mono
from arcus_desktop.engine import constants as C

from ..conftest import AUDIO
from .conftest import start_server
from .wire import FRAME, Client

CLIENTS = 16
FRAMES = 25  # 2 s each


@pytest.fixture(scope="module")
def running(engine):
    server = start_server(engine, max_sessions=CLIENTS)
    yield server
    server.close()


def test_sixteen_clients_at_once(running):
    speech = read_mono(AUDIO / "input_service.wav", C.SAMPLE_RATE)

    async def one(k: int):
        start = (k * 37 % (speech.size // FRAME - FRAMES)) * FRAME
        voice = ("NATF0", "NATF2", "NATM1", "VARF3")[k % 4]
        async with await Client.open(running.base, text_prompt=f"You are helper {k}.",
                                     voice_prompt=f"{voice}.pt", arcus="1") as c:
            await c.handshake()
            t0 = time.perf_counter()
            await c.stream(speech[start:start + FRAMES * FRAME])
            return c.got, time.perf_counter() - t0

    async def all_of_them():
        return await asyncio.gather(*(one(k) for k in range(CLIENTS)))

    t0 = time.perf_counter()
    results = asyncio.run(all_of_them())
    wall = time.perf_counter() - t0
    for got, _ in results:
        assert got.samples >= FRAMES * FRAME
        assert got.texts  # the tiny model babbles text pieces too
        assert not got.errors
        assert got.events[0]["type"] == "session"
    running.wait_idle()
    stats = running.server.loop.stats()
    times = np.array(stats.frame_ms)
    print(f"\n{CLIENTS} clients x {FRAMES} frames: {wall:.1f} s wall, "
          f"{np.mean([s for _, s in results]):.1f} s per conversation; "
          f"batch step p50 {np.percentile(times, 50):.1f} ms, p99 {np.percentile(times, 99):.1f} ms "
          f"over {stats.frames_total} steps")
