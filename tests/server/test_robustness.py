"""Hostile and broken clients are closed with a reason, never crash the server or leak
a slot, and the other conversations keep being served; health, metrics, uploads."""

import asyncio
import io
import threading
import wave

import aiohttp
import numpy as np
import pytest

from arcus_desktop.audio.files import read_mono
from arcus_desktop.bridge.server_check import check_server
from arcus_desktop.engine import constants as C

from ..conftest import AUDIO
from .conftest import start_server
from .wire import FRAME, Client

PERSONA = {"text_prompt": "Hello there.", "voice_prompt": "NATM1.pt"}


@pytest.fixture(scope="module")
def speech():
    return read_mono(AUDIO / "input_service.wav", C.SAMPLE_RATE)


@pytest.fixture(scope="module")
def running(engine):
    server = start_server(engine, max_sessions=3)
    yield server
    server.close()


def talk(coro):
    return asyncio.run(coro)


async def _abort(client: Client) -> None:
    """Vanish without a close frame, as a crashed client or a pulled cable does."""
    client.ws._response.connection.transport.abort()
    await client.http.close()


async def _hostile(base: str, speech) -> dict:
    """Each case on a connection of its own; what the server did about it."""
    results = {}

    async def case(name, act):
        c = await Client.open(base, **PERSONA)
        try:
            await c.handshake()
            outcome = await act(c)
            results[name] = outcome if outcome is not None else await c.read_close()
        finally:
            await c.close()

    async def garbage_audio(c):
        await c.ws.send_bytes(b"\x01" + bytes(range(256)) * 4)

    async def oversized(c):
        await c.ws.send_bytes(b"\x01" + bytes(100 * 1024))

    async def flood(c):
        for _ in range(1000):
            await c.ws.send_bytes(b"\x03")

    async def random_kinds(c):
        rng = np.random.default_rng(7)
        for _ in range(100):
            kind = int(rng.choice([0, 2, 3, 4, 5, 7, 8, 200, 255]))
            await c.ws.send_bytes(bytes([kind]) + rng.bytes(int(rng.integers(0, 600))))
        await c.stream(speech[: 3 * FRAME])  # still served
        return "served"

    async def truncated_then_gone(c):
        ogg = c.opus(speech[:FRAME]) + c.opus(speech[FRAME: 2 * FRAME])
        await c.ws.send_bytes(b"\x01" + ogg[: len(ogg) // 2])  # a page cut in half
        await _abort(c)
        return "gone"

    async def gone_mid_stream(c):
        await c.stream(speech[: 4 * FRAME])
        for i in range(4, 10):
            await c.send_audio(speech[i * FRAME:(i + 1) * FRAME])
        await _abort(c)
        return "gone"

    for name, act in [("garbage_audio", garbage_audio), ("oversized", oversized), ("flood", flood),
                      ("random_kinds", random_kinds), ("truncated_then_gone", truncated_then_gone),
                      ("gone_mid_stream", gone_mid_stream)]:
        await case(name, act)
    # Gone before the handshake, and before even sending anything.
    c = await Client.open(base, **PERSONA)
    await _abort(c)
    c = await Client.open(base, **PERSONA)
    await c.send_audio(speech[:FRAME])
    await _abort(c)
    return results


def test_hostile_clients_are_closed_and_the_others_keep_talking(running, speech):
    async def go():
        async with await Client.open(running.base, **PERSONA) as witness:
            await witness.handshake()
            stop = asyncio.Event()

            async def keep_talking():
                frames, total = 0, speech.size // FRAME
                while not stop.is_set():
                    i = frames % (total - 2)
                    await witness.stream(speech[i * FRAME:(i + 2) * FRAME], ahead=2)
                    frames += 2
                return frames

            talking = asyncio.create_task(keep_talking())
            results = await _hostile(running.base, speech)
            stop.set()
            frames = await talking
            return results, frames, witness.got

    results, frames, witness = talk(go())
    assert results["garbage_audio"][0] == 1003 and results["garbage_audio"][1].startswith("bad_audio:")
    assert results["oversized"][0] == 1009 and results["oversized"][1].startswith("message_too_big:")
    assert results["flood"][0] == 1008 and results["flood"][1].startswith("rate_limited:")
    assert results["random_kinds"] == "served"
    assert witness.samples >= (frames - 1) * FRAME and frames >= 4
    assert not witness.errors
    running.wait_idle()


def test_a_full_server_says_so_and_takes_the_next_one_when_a_slot_frees(running, speech):
    async def go():
        clients = [await Client.open(running.base, **PERSONA) for _ in range(3)]
        for c in clients:
            await c.handshake()
        extra = await Client.open(running.base, **PERSONA, arcus="1")
        refused = await extra.read_close()
        await extra.close()
        health = await _health(running.http, expect=503)  # full: PROTOCOL.md, Health
        await clients[0].close()
        await asyncio.to_thread(running.server.loop.wait_for, lambda lp: lp.sessions == 2, 30)
        async with await Client.open(running.base, **PERSONA) as late:
            await late.handshake()
            await late.stream(speech[: 3 * FRAME])
        for c in clients[1:]:
            await c.close()
        return refused, extra.got, health

    (code, reason), got, health = talk(go())
    assert code == 1013 and reason.startswith("full:")
    assert "All 3 conversation slots are in use" in got.errors[0]
    assert got.events[-1]["code"] == "full"
    assert health["status"] == "full" and health["free_slots"] == 0 and health["sessions"] == 3
    running.wait_idle()


def test_audio_faster_than_real_time_is_refused_beyond_the_backlog(running, speech):
    limits = running.server.config.limits
    gate = threading.Event()

    async def go():
        async with await Client.open(running.base, **PERSONA) as c:
            await c.handshake()
            # The engine is held up, as a slow GPU would be: the client's audio piles up.
            running.server.loop.call(lambda: gate.wait(30))
            for i in range(20):
                await c.send_audio(speech[i * FRAME:(i + 1) * FRAME])
            return await c.read_close()

    limits.backlog_s = 0.8  # 10 frames
    try:
        code, reason = talk(go())
    finally:
        gate.set()
        limits.backlog_s = 10.0
    assert code == 1008 and reason.startswith("rate_limited:") and "faster than real time" in reason
    running.wait_idle()


def test_a_silent_client_is_closed_after_the_idle_time(running):
    limits = running.server.config.limits

    async def go():
        async with await Client.open(running.base, **PERSONA) as c:
            await c.handshake()
            return await c.read_close()

    limits.idle_s = 0.5
    try:
        code, reason = talk(go())
    finally:
        limits.idle_s = 30.0
    assert code == 1000 and reason.startswith("idle:")
    running.wait_idle()


def test_a_draining_server_finishes_its_conversations_and_takes_no_new_one(running, speech):
    async def go():
        async with await Client.open(running.base, **PERSONA) as c:
            await c.handshake()
            running.server.draining = True
            try:
                late = await Client.open(running.base, **PERSONA)
                refused = await late.read_close()
                await late.close()
                health = await _health(running.http, expect=503)
                await c.stream(speech[: 3 * FRAME])  # the running one goes on
            finally:
                running.server.draining = False
            return refused, health

    (code, reason), health = talk(go())
    assert code == 1013 and reason.startswith("draining:")
    assert health["status"] == "draining" and health["free_slots"] == 0
    running.wait_idle()


async def _health(base: str, expect: int = 200) -> dict:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/healthz") as r:
            assert r.status == expect
            return await r.json()


def test_health_metrics_and_the_apps_test_connection(running, speech):
    async def go():
        async with await Client.open(running.base, **PERSONA) as c:
            await c.handshake()
            await c.stream(speech[: 5 * FRAME])
            health = await _health(running.http)
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{running.http}/metrics") as r:
                    text = await r.text()
            return health, text

    health, text = talk(go())
    assert health == {"status": "ok", "sessions": 1, "max_sessions": 3, "free_slots": 2,
                      "device": "cpu", "user_text": False}
    lines = dict(line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#"))
    assert lines["arcus_max_sessions"] == "3"
    assert int(lines["arcus_frames_total"]) >= 5
    assert float(lines['arcus_frame_seconds{quantile="0.99"}']) > 0
    assert "arcus_gpu_memory_bytes" not in text  # CPU
    running.wait_idle()
    check = check_server(running.http, token="")
    assert check.ok and "3 free conversation slots" in check.text


def _wav(pcm: np.ndarray) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)  # resampled by the server
        w.writeframes((np.clip(pcm, -1, 1) * 32767).astype("<i2").tobytes())
    return buf.getvalue()


def test_an_uploaded_voice_speaks_and_bad_uploads_are_refused(running, speech):
    body = _wav(speech[: 3 * 16000])

    async def go():
        async with aiohttp.ClientSession() as http:
            async def post(data):
                async with http.post(f"{running.http}/api/voices", data=data) as r:
                    return r.status, await r.json() if r.status != 413 else None

            first = await post(body)
            again = await post(body)
            bad = await post(b"RIFF" + bytes(1000))
            huge = await post(bytes(9 * 2**20))
            async with http.get(f"{running.http}/api/voices") as r:
                listing = await r.json()
        name = first[1]["voice_prompt"]
        async with await Client.open(running.base, text_prompt="Hi.", voice_prompt=name, arcus="1") as c:
            await c.handshake()
            await c.stream(speech[: 3 * FRAME])
        return first, again, bad, huge, listing, c.got

    first, again, bad, huge, listing, got = talk(go())
    assert first[0] == 200 and first[1]["voice_prompt"].startswith("custom-")
    assert first[1]["seconds"] == pytest.approx(3.0, abs=0.01) and first[1]["trimmed_seconds"] == 0
    assert again == first
    assert bad[0] == 400 and bad[1]["error"] == "bad_audio"
    assert huge[0] == 413
    assert listing["custom"] == [first[1]["voice_prompt"]] and "NATF2.pt" in listing["voices"]
    assert got.events[0]["voice"] == first[1]["voice_prompt"] and got.samples >= 2 * FRAME
    running.wait_idle()
