"""What a token holder can make the server hold: Opus that decodes to far more audio
than its bytes (one-byte packets of 120 ms), uploads that decode to hundreds of MB
(8 channels at 384 kHz), and uploads held half-sent. Each is refused before the memory
is taken."""

import asyncio
import struct
import threading

import aiohttp
import numpy as np
import pytest
import sphn

from arcus_desktop.audio.files import read_mono
from arcus_desktop.audio.ogg import PageSplitter
from arcus_desktop.core.errors import AudioFileError
from arcus_desktop.engine import constants as C
from arcus_desktop.server import voices
from arcus_desktop.server.codec_pool import CodecPool
from arcus_desktop.server.config import Limits

from ..bombs import PeakMemory
from ..conftest import AUDIO
from .conftest import start_server
from .wire import FRAME, RATE, Client

PERSONA = {"text_prompt": "Hi.", "voice_prompt": "NATF2.pt"}
CONCEAL = bytes([(3 << 3) | 1])  # SILK 60 ms, code 1: two empty frames, 120 ms of audio


@pytest.fixture(scope="module")
def speech():
    return read_mono(AUDIO / "input_service.wav", C.SAMPLE_RATE)


# -- Ogg pages by hand (RFC 3533), to say what the Opus packets in them are ---------------------
def _crc_table() -> list[int]:
    table = []
    for i in range(256):
        r = i << 24
        for _ in range(8):
            r = ((r << 1) ^ 0x04C11DB7) if r & 0x80000000 else r << 1
        table.append(r & 0xFFFFFFFF)
    return table


_CRC = _crc_table()


def _page(packets: list[bytes], serial: int, seq: int) -> bytes:
    lacing, body = bytearray(), b"".join(packets)
    for p in packets:
        lacing += bytes([255] * (len(p) // 255) + [len(p) % 255])
    head = struct.pack("<4sBBqIIIB", b"OggS", 0, 0, 0, serial, seq, 0, len(lacing))
    page = bytearray(head + lacing + body)
    crc = 0
    for b in page:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CRC[((crc >> 24) & 0xFF) ^ b]
    struct.pack_into("<I", page, 22, crc)
    return bytes(page)


def _stream_after(ogg: bytes) -> tuple[int, int]:
    """The serial and next page number of the stream that `ogg` began."""
    last = PageSplitter().pages(ogg)[-1]
    return int.from_bytes(last[14:18], "little"), int.from_bytes(last[18:22], "little") + 1


def _concealment(serial: int, seq: int, pages: int, packets: int) -> list[bytes]:
    """Pages of one-byte packets: 120 ms of audio for each byte."""
    return [_page([CONCEAL] * packets, serial, seq + i) for i in range(pages)]


# -- 1. Opus on the conversation's websocket ---------------------------------------------------
@pytest.fixture(scope="module")
def running(engine):
    server = start_server(engine, max_sessions=2, limits=Limits(uploads=2, upload_s=5.0))
    yield server
    server.close()


@pytest.fixture(params=["workers", "in_process"])
def coded(running, request):
    """The server, its new conversations' Opus in worker processes or (as with
    `--codec-workers 0`) in its own."""
    pool = running.server.codecs
    workers = pool.workers
    if request.param == "in_process":
        pool.workers = 0
    yield running
    pool.workers = workers


class Pushed:
    """What decoded audio reached the slots: in all, and the most a slot held."""

    def __init__(self, loop, monkeypatch) -> None:
        self.total = 0
        self.held = 0
        push = loop._push

        def counted(slot, pcm, *limit):
            backlog = push(slot, pcm, *limit)
            self.total += np.asarray(pcm).size
            self.held = max(self.held, slot._samples)
            return backlog

        monkeypatch.setattr(loop, "_push", counted)


def test_codec_refuses_a_page_of_more_than_a_second_before_decoding_it(speech):
    """In a worker and in the server's own process (`--codec-workers 0`) alike."""
    first = sphn.OpusStreamWriter(RATE).append_pcm(speech[:FRAME])
    bomb = _concealment(*_stream_after(first), pages=1, packets=41)[0]  # 4.9 s in 109 bytes

    async def go(workers: int):
        pool = CodecPool(workers)
        pool.start(asyncio.get_running_loop())
        got, errors = [], []
        codec = pool.open(lambda pcm: got.append(pcm.size), lambda e: errors.append(e.code))
        try:
            for page in PageSplitter().pages(first):
                codec.decode(page)
            await _until(lambda: sum(got) >= FRAME)
            codec.decode(bomb)
            await _until(lambda: errors or sum(got) > FRAME)
            return sum(got), errors
        finally:
            codec.close()
            pool.close()

    for workers in (1, 0):
        decoded, errors = asyncio.run(go(workers))
        assert errors == ["bad_audio"] and decoded == FRAME, (workers, decoded, errors)


async def _first_frame(c, speech) -> bytes:
    """The handshake and one real frame, answered: the Ogg stream the attack continues."""
    await c.handshake()
    first = c.opus(speech[:FRAME])
    await c.ws.send_bytes(b"\x01" + first)
    await c.read_until(lambda g: g.samples >= FRAME)
    return first


def test_a_message_of_more_than_a_second_of_audio_is_refused_undecoded(coded, speech, monkeypatch):
    pushed = Pushed(coded.server.loop, monkeypatch)

    async def go():
        async with await Client.open(coded.base, **PERSONA) as c:
            first = await _first_frame(c, speech)
            # 98 s of audio in 2.2 KB; one 64 KiB message held about 2900 s.
            bomb = b"".join(_concealment(*_stream_after(first), pages=20, packets=41))
            await c.ws.send_bytes(b"\x01" + bomb)
            return await c.read_close()

    code, reason = asyncio.run(go())
    assert code == 1008 and reason.startswith("rate_limited:") and "1 s of audio" in reason, reason
    assert pushed.total <= FRAME, pushed.total / C.SAMPLE_RATE
    coded.wait_idle()


def test_audio_past_the_backlog_is_never_held(coded, speech, monkeypatch):
    """Messages of just under a second each, faster than real time, the engine held up:
    the slot never holds more than its backlog, and the codec stops at the refusal (a
    worker's queue of pieces is not decoded into the slot)."""
    limits = coded.server.config.limits
    most = int(limits.backlog_s * C.SAMPLE_RATE / FRAME) * FRAME
    pushed = Pushed(coded.server.loop, monkeypatch)
    gate = threading.Event()

    async def go():
        async with await Client.open(coded.base, **PERSONA) as c:
            first = await _first_frame(c, speech)
            coded.server.loop.call(lambda: gate.wait(60))  # nothing is stepped
            for page in _concealment(*_stream_after(first), pages=40, packets=8):  # 0.96 s each
                await c.ws.send_bytes(b"\x01" + page)
            return await c.read_close()

    try:
        code, reason = asyncio.run(go())
    finally:
        gate.set()
    assert code == 1008 and "faster than real time" in reason, reason
    assert pushed.held <= most, (pushed.held, most)
    assert pushed.total <= most + 2 * C.SAMPLE_RATE, pushed.total / C.SAMPLE_RATE  # not 38 s
    coded.wait_idle()


# -- 2. Uploads that decode to far more than they weigh ----------------------------------------
def _flac(path, seconds: int, rate: int, channels: int) -> bytes:
    import soundfile  # a test dependency, used to write the fixtures

    block = np.zeros((rate, channels), dtype=np.int16)
    block[0] = 1  # not silence throughout
    with soundfile.SoundFile(path, "w", samplerate=rate, channels=channels, format="FLAC",
                             subtype="PCM_16") as f:
        for _ in range(seconds):
            f.write(block)
    return path.read_bytes()


async def _post(url: str, body: bytes) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http:
        async with http.post(url, data=body) as r:
            return r.status, await r.json()


def test_an_upload_of_8_channels_at_384_khz_is_refused_before_it_is_decoded(running, tmp_path):
    bomb = _flac(tmp_path / "bomb.flac", 8, 384_000, 8)  # 98 MB decoded
    assert len(bomb) < 2**20
    with PeakMemory() as peak:  # the server runs in this process
        status, body = asyncio.run(_post(f"{running.http}/api/voices", bomb))
    assert status == 400 and body["error"] == "bad_audio", (status, body)
    assert "8 channels at 384000 Hz" in body["message"], body
    assert peak.grew < 48 * 2**20, f"{peak.grew / 2**20:.0f} MiB"


def test_the_longest_stereo_48_khz_upload_is_still_read(tmp_path):
    pcm, seconds, trimmed = voices.decode(_flac(tmp_path / "v.flac", 31, 48_000, 2), 30.0)
    assert pcm.size == 30 * voices.SAMPLE_RATE and seconds == pytest.approx(31, abs=0.1)
    with pytest.raises(AudioFileError):  # 4 channels: twice what a stereo file holds
        voices.decode(_flac(tmp_path / "q.flac", 31, 48_000, 4), 30.0)


def test_uploads_are_decoded_two_at_a_time(running, monkeypatch):
    inside, most, release = [0], [0], threading.Event()
    lock = threading.Lock()

    def decode(body, max_seconds):  # as slow as a large file, without its memory
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        release.wait(60)
        with lock:
            inside[0] -= 1
        return np.zeros(voices.SAMPLE_RATE, np.float32), 1.0, 0.0

    named, name_of = [], voices.name_of
    monkeypatch.setattr(voices, "decode", decode)
    monkeypatch.setattr(voices, "name_of", lambda body: named.append(body) or name_of(body))
    monkeypatch.setattr(running.server.config.limits, "uploads", 4)

    async def go():
        posts = [asyncio.create_task(_post(f"{running.http}/api/voices", bytes([i]) * 100))
                 for i in range(4)]
        await _until(lambda: len(named) == 4 and inside[0] >= 2)  # all read, two decoding
        release.set()
        return await asyncio.gather(*posts)

    try:
        answers = asyncio.run(go())
    finally:
        release.set()
    assert [status for status, _ in answers] == [200] * 4, answers
    assert most[0] == 2


# -- 3. Uploads held half-sent -----------------------------------------------------------------
def test_uploads_in_flight_are_limited_and_the_rest_told_to_retry(running):
    assert Limits().upload_s <= 30 and Limits().uploads <= 4
    host, port = running.http.split("//")[1].rsplit(":", 1)
    head = (b"POST /api/voices HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % 2**20)

    async def held():
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(head + bytes(1000))  # the rest never comes
        await writer.drain()
        return reader, writer

    async def go():
        first = [await held() for _ in range(2)]
        await _until(lambda: running.server.uploads == 2)
        reader, writer = await held()
        refused = await asyncio.wait_for(_answer(reader), 30)  # at once, not after upload_s
        timed_out = [await asyncio.wait_for(_answer(r), 30) for r, _ in first]
        for r, w in [*first, (reader, writer)]:
            await asyncio.wait_for(r.read(), 30)  # aiohttp reads on (discarding) for 10 s
            w.close()
        await _until(lambda: running.server.uploads == 0)
        return refused, timed_out, await _post(f"{running.http}/api/voices", b"RIFF" + bytes(100))

    refused, timed_out, after = asyncio.run(go())
    assert refused.startswith(b"HTTP/1.1 503 ") and b"\r\nRetry-After: 5\r\n" in refused, refused
    assert b'"error": "busy"' in refused, refused
    assert all(t.startswith(b"HTTP/1.1 408 ") for t in timed_out), timed_out
    assert after[0] == 400  # places free again: a new upload is read


async def _answer(reader: asyncio.StreamReader) -> bytes:
    """An HTTP answer's head and body (the server may read on before it closes)."""
    head = await reader.readuntil(b"\r\n\r\n")
    size = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    return head + await reader.readexactly(size)


async def _until(test, timeout: float = 30) -> None:
    """Polled: the server's state has no event a client could wait on."""
    async def wait():
        while not test():
            await asyncio.sleep(0.01)
    await asyncio.wait_for(wait(), timeout)
