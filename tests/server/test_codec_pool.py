"""The Opus worker pool (server/codec_pool.py): each conversation's audio is coded in
order and byte for byte as sphn codes it in one process; a worker that dies ends only
its own conversations, with a reason, and the server goes on; none outlives the server."""

import asyncio
import os
import signal
from pathlib import Path

import numpy as np
import pytest
import sphn

from arcus_desktop.audio.files import read_mono
from arcus_desktop.engine import constants as C
from arcus_desktop.server.codec_pool import CodecPool
from arcus_desktop.audio.ogg import PageSplitter

from ..conftest import AUDIO
from .conftest import start_server
from .wire import FRAME, RATE, Client

PERSONA = {"text_prompt": "Hello there.", "voice_prompt": "NATM1.pt"}


@pytest.fixture(scope="module")
def speech():
    return read_mono(AUDIO / "input_service.wav", C.SAMPLE_RATE)


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def test_concurrent_conversations_round_trip_in_order_as_sphn_codes_them(speech):
    sessions, frames = 5, 12
    # Each conversation its own stretch of speech: a mix-up between them would show.
    pcm = [speech[k * 7 * FRAME:][: frames * FRAME] for k in range(sessions)]
    ogg = [sphn.OpusStreamWriter(RATE).append_pcm(p) for p in pcm]
    pieces = [PageSplitter().pages(o) for o in ogg]  # one page at a time, as the session does
    expected_pcm = []
    for k in range(sessions):
        reader = sphn.OpusStreamReader(RATE)
        expected_pcm.append(np.concatenate([reader.append_bytes(p) for p in pieces[k]]))

    async def go():
        pool = CodecPool(2)
        pool.start(asyncio.get_running_loop())
        try:
            got = [[] for _ in range(sessions)]
            errors = []
            all_decoded = asyncio.Event()

            def on_pcm(k):
                def take(p):
                    got[k].append(p)
                    if all(sum(x.size for x in g) >= e.size for g, e in zip(got, expected_pcm)):
                        all_decoded.set()
                return take

            codecs = [pool.open(on_pcm(k), errors.append) for k in range(sessions)]
            for i in range(max(len(p) for p in pieces)):  # interleaved, as clients send
                for k in range(sessions):
                    if i < len(pieces[k]):
                        codecs[k].decode(pieces[k][i])
            # Each conversation's frames asked for at once, without waiting: answered in order.
            encoded = await asyncio.gather(*(
                asyncio.gather(*(codecs[k].encode(pcm[k][i * FRAME:(i + 1) * FRAME]) for i in range(frames)))
                for k in range(sessions)))
            await asyncio.wait_for(all_decoded.wait(), 60)
            for codec in codecs:
                codec.close()
            return [np.concatenate(g) for g in got], [b"".join(e) for e in encoded], errors
        finally:
            pool.close()

    decoded, encoded, errors = asyncio.run(go())
    assert not errors
    for k in range(sessions):
        np.testing.assert_array_equal(decoded[k], expected_pcm[k])
        writer = sphn.OpusStreamWriter(RATE)
        expected_ogg = b"".join(writer.append_pcm(pcm[k][i * FRAME:(i + 1) * FRAME]) for i in range(frames))
        assert encoded[k] == expected_ogg


def test_audio_that_is_not_opus_ends_that_conversation_only():
    async def go():
        pool = CodecPool(1)
        pool.start(asyncio.get_running_loop())
        try:
            bad_errors, good_errors, good_pcm = [], [], []
            failed = asyncio.Event()
            bad = pool.open(lambda p: None, lambda e: (bad_errors.append(e), failed.set()))
            good = pool.open(good_pcm.append, good_errors.append)
            bad.decode(b"OggS" + bytes(200))
            await asyncio.wait_for(failed.wait(), 60)
            with pytest.raises(Exception) as raised:
                await bad.encode(np.zeros(FRAME, np.float32))
            ogg = await good.encode(np.zeros(FRAME, np.float32))
            return bad_errors, raised.value, good_errors, ogg
        finally:
            pool.close()

    bad_errors, raised, good_errors, ogg = asyncio.run(go())
    assert [e.code for e in bad_errors] == ["bad_audio"] and raised.code == "bad_audio"
    assert not good_errors and ogg.startswith(b"OggS")


def test_a_killed_worker_ends_its_conversations_with_a_reason_and_the_server_goes_on(engine, speech):
    running = start_server(engine, max_sessions=3, codec_workers=2)
    try:
        pids = running.server.codecs.pids
        assert len(pids) == 2

        async def outcome(c: Client, pcm):
            try:
                await c.stream(pcm)
                return "talked"
            except AssertionError:  # read its close
                return c.ws.close_code, c.got.errors
            except ConnectionError:  # closed before it sent
                code, _ = await c.read_close()
                return code, c.got.errors

        async def go():
            a = await Client.open(running.base, **PERSONA)
            b = await Client.open(running.base, **PERSONA)
            try:
                for c in (a, b):
                    await c.handshake()
                await asyncio.gather(a.stream(speech[: 4 * FRAME]), b.stream(speech[: 4 * FRAME]))
                # One conversation on each worker (the fewest first): one of them dies.
                os.kill(pids[0], signal.SIGKILL)
                ends = await asyncio.gather(outcome(a, speech[4 * FRAME: 12 * FRAME]),
                                            outcome(b, speech[4 * FRAME: 12 * FRAME]))
            finally:
                await a.close()
                await b.close()
            # A new conversation after it: a new worker codes it.
            async with await Client.open(running.base, **PERSONA) as c:
                await c.handshake()
                await c.stream(speech[: 6 * FRAME])
                assert not c.got.errors
            return ends

        ends = asyncio.run(go())
        assert sorted(ends, key=str).count("talked") == 1, ends
        code, errors = next(e for e in ends if e != "talked")
        assert code == 1011
        assert len(errors) == 1 and "audio worker stopped" in errors[0]
        assert pids[0] not in running.server.codecs.pids and len(running.server.codecs.pids) == 2
        running.wait_idle()
    finally:
        running.close()
    assert not any(_alive(pid) for pid in pids)


def test_stopping_the_server_leaves_no_worker_behind(engine, speech):
    running = start_server(engine, max_sessions=2, codec_workers=3)
    try:
        pids = running.server.codecs.pids
        assert len(pids) == 3 and all(_alive(pid) for pid in pids)

        async def go():
            async with await Client.open(running.base, **PERSONA) as c:
                await c.handshake()
                await c.stream(speech[: 4 * FRAME])
        asyncio.run(go())
    finally:
        running.close()
    assert not any(_alive(pid) for pid in pids)
    assert running.server.codecs.pids == []


def test_no_workers_codes_in_the_servers_process(engine, speech):
    running = start_server(engine, max_sessions=1, codec_workers=0)
    try:
        assert running.server.codecs.pids == []

        async def go():
            async with await Client.open(running.base, **PERSONA) as c:
                await c.handshake()
                await c.stream(speech[: 6 * FRAME])
                return c.got
        got = asyncio.run(go())
        assert got.samples >= 6 * FRAME and not got.errors
    finally:
        running.close()


def test_the_worker_count_is_checked_before_anything_loads():
    from arcus_desktop.core.errors import ArcusError
    from arcus_desktop.server.config import ServerConfig, check

    for bad in (-1, 65):
        with pytest.raises(ArcusError, match="--codec-workers"):
            check(ServerConfig(codec_workers=bad))
    check(ServerConfig(codec_workers=0))
    check(ServerConfig())
