"""The team server's smaller limits and their edges (issue 15): a second of audio in
one message, long URLs, what a refused upload says, what counts as a refused
conversation, cumulative metrics, the key file's mode, and the gate over TLS."""

import asyncio
import logging
import socket
import ssl

import aiohttp
import pytest

from arcus_desktop.audio.files import read_mono
from arcus_desktop.engine import constants as C
from arcus_desktop.engine.batch_loop import LoopStats
from arcus_desktop.server import metrics
from arcus_desktop.server.tls import make_cert

from ..conftest import AUDIO
from .conftest import start_server
from .wire import FRAME, Client

TOKEN = "team-token-0123456789"
PERSONA = {"text_prompt": "Hello.", "voice_prompt": "NATF0.pt"}


@pytest.fixture(scope="module")
def cert_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cert")
    make_cert(folder)
    return folder


@pytest.fixture(scope="module")
def running(engine, cert_dir):
    """With a token, over TLS."""
    server = start_server(engine, max_sessions=2, token=TOKEN, ssl_dir=cert_dir)
    yield server
    server.close()


@pytest.fixture(scope="module")
def trust(cert_dir):
    return ssl.create_default_context(cafile=str(cert_dir / "cert.pem"))


AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def _get(url, trust, headers=None):
    async with aiohttp.ClientSession() as http:
        async with http.get(url, headers=headers, ssl=trust) as r:
            return r.status, await r.text()


def test_one_message_may_hold_a_second_of_audio_in_many_pages(running, trust):
    speech = read_mono(AUDIO / "input_service.wav", C.SAMPLE_RATE)

    async def go():
        async with await Client.open(running.base, AUTH, ssl=trust, **PERSONA) as c:
            await c.handshake()
            # 0.96 s at once, 24 pages; more than 1 s is refused (test_memory_limits.py).
            await c.ws.send_bytes(b"\x01" + c.opus(speech[: 12 * FRAME]))
            await c.read_until(lambda g: g.samples >= 11 * FRAME)
            return c.got

    got = asyncio.run(go())
    assert not got.errors
    running.wait_idle()


def test_a_long_url_is_served_and_an_over_long_one_refused_without_a_traceback(running, trust, caplog):
    role = "\u8a9e" * 4000  # the longest role, 36 KB percent-encoded

    async def go():
        try:
            c = await Client.open(running.base, AUTH, ssl=trust, text_prompt=role, voice_prompt="NATF0.pt")
        except aiohttp.WSServerHandshakeError as e:
            return e.status, None
        first = await c.read()  # the handshake, or a refusal of the role's length
        await c.close()
        return 101, first

    with caplog.at_level(logging.INFO):
        status, first = asyncio.run(go())
        assert status == 101, status  # the URL was read (aiohttp's default line is 8190 bytes)
        assert first.data == b"\x00" or first.extra.startswith("prompt_too_long:"), first
        status, _ = asyncio.run(_get(f"{running.http}/healthz?x={'a' * 70000}", trust, AUTH))
        assert status in (400, 414)
        answer = asyncio.run(_raw(running, trust, b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                                  b"Bad Name: y\r\n\r\n"))
        assert b" 400 " in answer.split(b"\r\n")[0], answer[:100]
    assert not [r for r in caplog.records if r.exc_info], caplog.text


async def _raw(running, trust, request: bytes) -> bytes:
    host, port = running.http.split("//")[1].rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port), ssl=trust,
                                                   server_hostname="localhost")
    writer.write(request)
    try:
        return await asyncio.wait_for(reader.read(), 30)
    finally:
        writer.close()
    running.wait_idle()


def test_a_refused_upload_does_not_name_a_temporary_file(running, trust):
    async def go():
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{running.http}/api/voices", data=b"RIFF" + bytes(1000),
                                 headers=AUTH, ssl=trust) as r:
                return r.status, await r.json()

    status, body = asyncio.run(go())
    assert status == 400 and body["error"] == "bad_audio"
    assert "arcus-voice" not in body["message"] and "/tmp" not in body["message"]
    assert body["message"].startswith("The upload")


def test_only_refused_conversations_count_as_refused(running, trust):
    key = 'arcus_sessions_refused_total{reason="unauthorized"}'

    def refused() -> float:
        _, text = asyncio.run(_get(f"{running.http}/metrics", trust, AUTH))
        return dict(line.rsplit(" ", 1) for line in text.splitlines()
                    if not line.startswith("#")).get(key, 0)

    before = float(refused())
    for path in ("/healthz", "/metrics", "/api/voices"):
        assert asyncio.run(_get(f"{running.http}{path}", trust))[0] == 401
    assert float(refused()) == before
    with pytest.raises(aiohttp.WSServerHandshakeError):
        asyncio.run(Client.open(running.base, ssl=trust, **PERSONA))
    assert float(refused()) == before + 1


def test_summaries_sum_and_count_every_step_since_the_start():
    stats = LoopStats(sessions=1, running=1, max_sessions=2, frames_total=5000, late_ticks=0,
                      slot_frames_total=9000, frame_ms=[20.0] * 1000, wait_ms=[5.0] * 4000,
                      frame_ms_sum=5000 * 21.0, wait_ms_sum=9000 * 4.0)
    lines = dict(line.rsplit(" ", 1) for line in metrics.render(stats, 3, {}).splitlines()
                 if not line.startswith("#"))
    assert int(lines["arcus_frame_seconds_count"]) == 5000
    assert float(lines["arcus_frame_seconds_sum"]) == pytest.approx(105.0)
    assert float(lines['arcus_frame_seconds{quantile="0.5"}']) == pytest.approx(0.02)
    assert int(lines["arcus_frame_wait_seconds_count"]) == 9000
    assert float(lines["arcus_frame_wait_seconds_sum"]) == pytest.approx(36.0)


def test_make_cert_makes_an_existing_key_private(tmp_path):
    (tmp_path / "key.pem").write_text("old")
    (tmp_path / "key.pem").chmod(0o644)
    make_cert(tmp_path)
    assert (tmp_path / "key.pem").stat().st_mode & 0o777 == 0o600


def test_over_tls_silent_and_handshaken_connections_are_closed(running, trust):
    """The header time covers the TLS handshake: a connection that never starts it,
    and one that finishes it but sends no request, are both closed."""
    limits = running.server.config.limits
    host, port = running.http.split("//")[1].rsplit(":", 1)

    async def go():
        loop = asyncio.get_running_loop()
        silent = socket.create_connection((host, int(port)))
        silent.setblocking(False)
        reader, writer = await asyncio.open_connection(host, int(port), ssl=trust,
                                                       server_hostname="localhost")
        try:
            with silent:
                assert await asyncio.wait_for(loop.sock_recv(silent, 1), 30) == b""
        except ConnectionResetError:
            pass
        try:
            assert await asyncio.wait_for(reader.read(1), 30) == b""
        except (ConnectionResetError, ssl.SSLError):
            pass
        writer.close()

    limits.header_s = 0.5
    try:
        asyncio.run(go())
    finally:
        limits.header_s = 10.0
    status, _ = asyncio.run(_get(f"{running.http}/healthz", trust, AUTH))
    assert status == 200
