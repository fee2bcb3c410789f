"""Secure by default: tokens, TLS, browser origins, and the refusal to listen beyond
loopback without both. The module's server runs with a token over TLS (a certificate
from `serve --make-cert`)."""

import asyncio
import gzip
import ssl
import time
import tracemalloc
import zlib

import aiohttp
import pytest

from arcus_desktop.cli import main
from arcus_desktop.core.errors import ArcusError
from arcus_desktop.server.config import ServerConfig, check
from arcus_desktop.server.tls import make_cert

from .conftest import start_server
from .wire import Client

TOKEN = "team-token-0123456789"
PERSONA = {"text_prompt": "Hello.", "voice_prompt": "NATF0.pt"}


@pytest.fixture(scope="module")
def cert_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cert")
    fingerprint = make_cert(folder, ["gpu-box.example"])
    assert len(fingerprint.split(":")) == 32
    return folder


@pytest.fixture(scope="module")
def trust(cert_dir):
    return ssl.create_default_context(cafile=str(cert_dir / "cert.pem"))


@pytest.fixture(scope="module")
def running(engine, cert_dir):
    server = start_server(engine, token=TOKEN, ssl_dir=cert_dir)
    yield server
    server.close()


def talk(coro):
    return asyncio.run(coro)


async def _get(url, trust, headers=None):
    async with aiohttp.ClientSession() as http:
        async with http.get(url, headers=headers, ssl=trust) as r:
            return r.status, await r.text()


async def _refused_status(base, trust, headers=None, **query):
    try:
        client = await Client.open(base, headers=headers, ssl=trust, **query)
    except aiohttp.WSServerHandshakeError as e:
        return e.status
    await client.close()
    return 101


def test_a_token_over_tls_is_needed_and_enough(running, trust):
    base = running.base
    assert base.startswith("wss://")
    assert talk(_refused_status(base, trust, **PERSONA)) == 401
    assert talk(_refused_status(base, trust, {"Authorization": "Bearer wrong-token-000000000"}, **PERSONA)) == 401
    assert talk(_refused_status(base, trust, token="wrong", **PERSONA)) == 401

    async def converse(headers=None, **query):
        async with await Client.open(base, headers=headers, ssl=trust, **PERSONA, **query) as c:
            await c.handshake()

    talk(converse({"Authorization": f"Bearer {TOKEN}"}))
    talk(converse(token=TOKEN))  # browsers cannot set headers
    running.wait_idle()


def test_health_and_metrics_need_the_token_too(running, trust):
    status, body = talk(_get(f"{running.http}/healthz", trust))
    assert status == 401 and "unauthorized" in body
    status, _ = talk(_get(f"{running.http}/metrics", trust))
    assert status == 401
    status, body = talk(_get(f"{running.http}/healthz", trust, {"Authorization": f"Bearer {TOKEN}"}))
    assert status == 200 and '"free_slots": 4' in body
    status, body = talk(_get(f"{running.http}/metrics?token={TOKEN}", trust))
    assert status == 200 and 'arcus_sessions_refused_total{reason="unauthorized"}' in body


def test_an_untrusted_certificate_is_not_accepted_by_clients(running):
    with pytest.raises(aiohttp.ClientConnectorCertificateError):
        talk(_get(f"{running.http}/healthz", True))


def test_without_a_token_only_pages_from_this_computer_get_in(running, trust):
    running.server.config.token = ""
    try:
        foreign = {"Origin": "https://evil.example"}
        assert talk(_refused_status(running.base, trust, foreign, **PERSONA)) == 403
        status, _ = talk(_post_voice(running.http, trust, foreign))
        assert status == 403

        async def converse(headers):
            async with await Client.open(running.base, headers=headers, ssl=trust, **PERSONA) as c:
                await c.handshake()

        talk(converse({"Origin": "http://localhost:5173"}))  # a dev server of the web client
        talk(converse({"Origin": "https://127.0.0.1:8998"}))
        talk(converse(None))  # not a browser
    finally:
        running.server.config.token = TOKEN
    running.wait_idle()


async def _post_voice(http_base, trust, headers, body=b"RIFF"):
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{http_base}/api/voices", data=body, headers=headers, ssl=trust) as r:
            return r.status, await r.text()


async def _one_connection(running, trust, data: bytes, enough: int = 2) -> tuple[bytes, bool]:
    """Send `data` (requests, pipelined) on one connection; what came back and whether
    the server closed it: read until it does, or until `enough` answers have come (by
    default two: it did not close after the first)."""
    host, port = running.http.split("//")[1].rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port), ssl=trust,
                                                   server_hostname="localhost")
    writer.write(data)
    got = b""
    try:
        while got.count(b"HTTP/1.1 ") < enough:
            chunk = await asyncio.wait_for(reader.read(65536), 30)
            if not chunk:
                return got, True
            got += chunk
        return got, False
    except (ConnectionResetError, ssl.SSLError):
        return got, True
    finally:
        writer.close()


def test_a_connection_without_the_token_gets_one_answer(running, trust):
    """Pipelined requests without the token: one 401, then the server closes (each
    would cost a request cycle). Requests with the token keep the connection."""
    get = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
    got, closed = talk(_one_connection(running, trust, (get + b"\r\n") * 50))
    assert got.count(b"HTTP/1.1 401 ") == 1 and closed, got[:300]
    assert b"Connection: close" in got
    authorised = get + f"Authorization: Bearer {TOKEN}\r\n\r\n".encode()
    got, closed = talk(_one_connection(running, trust, authorised * 2))
    assert got.count(b"HTTP/1.1 200 ") == 2 and not closed, got[:300]


def test_requests_pipelined_behind_one_without_the_token_are_not_parsed(running, trust):
    """4 connections, each 1 MiB of pipelined requests without the token: the server
    answers the first and holds the rest unparsed until it closes (aiohttp parses all it
    is given, 58,000 requests a MiB, before it answers the first)."""
    data = b"GET /healthz HTTP/1.1\r\n\r\n" * ((2**20 - 4096) // 25)  # within HEAD_BYTES

    async def attack():
        return await asyncio.gather(*(_one_connection(running, trust, data) for _ in range(4)))

    start = time.process_time()  # every thread's: the server's and the client's
    answers = talk(attack())
    used = time.process_time() - start
    assert all(got.count(b"HTTP/1.1 401 ") == 1 and closed for got, closed in answers)
    assert used < 0.25, f"{used:.2f} s of CPU"  # 0.03 s; parsed, 0.9 s


def test_a_compressed_body_is_not_inflated_before_the_token_check(running, trust):
    """aiohttp inflated a gzip body in its parser, before any check and without a cap:
    64 KiB of gzip from a client without the token took 142 MiB (1 MiB took 1 GiB)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip
    body = b"".join(packer.compress(bytes(2**20)) for _ in range(64)) + packer.flush()
    head = (f"POST /api/voices HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    tracemalloc.start()  # the server's thread too
    try:
        got, _ = talk(_one_connection(running, trust, head + body, enough=1))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert got.startswith(b"HTTP/1.1 401 "), got[:300]
    assert peak < 16 * 2**20, f"{peak / 2**20:.0f} MiB"  # 64 MiB inflated


def test_a_compressed_body_is_refused_with_the_token_too(running, trust):
    body = gzip.compress(b"RIFF" + bytes(1000))
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Encoding": "gzip"}
    status, text = talk(_post_voice(running.http, trust, headers, body))
    assert status == 415 and "unsupported_encoding" in text, (status, text)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "gpu-box.example"])
def test_listening_beyond_loopback_needs_a_token_and_tls(host, cert_dir):
    with pytest.raises(ArcusError, match="a token and TLS"):
        check(ServerConfig(host=host))
    with pytest.raises(ArcusError, match="needs TLS"):
        check(ServerConfig(host=host, token=TOKEN))
    with pytest.raises(ArcusError, match="needs a token"):
        check(ServerConfig(host=host, ssl_dir=cert_dir))
    check(ServerConfig(host=host, token=TOKEN, ssl_dir=cert_dir))


def test_loopback_needs_neither_and_short_tokens_are_refused(tmp_path):
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        check(ServerConfig(host=host))
    with pytest.raises(ArcusError, match="too short"):
        check(ServerConfig(token="short"))
    with pytest.raises(ArcusError, match="cert.pem"):
        check(ServerConfig(ssl_dir=tmp_path))


def test_the_command_refuses_before_loading_anything(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("ARCUS_SERVER_TOKEN", raising=False)
    assert main(["serve", "--host", "0.0.0.0", "--model-dir", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert "needs a token and TLS" in err and "--make-cert" in err


def test_make_cert_writes_a_private_key_only_its_owner_reads(tmp_path, capsys):
    assert main(["serve", "--make-cert", str(tmp_path / "c"), "--cert-name", "10.0.0.5"]) == 0
    assert "SHA-256 fingerprint" in capsys.readouterr().out
    assert (tmp_path / "c" / "key.pem").stat().st_mode & 0o077 == 0
    from cryptography import x509

    cert = x509.load_pem_x509_certificate((tmp_path / "c" / "cert.pem").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert {str(ip) for ip in names.get_values_for_type(x509.IPAddress)} >= {"127.0.0.1", "10.0.0.5"}


@pytest.mark.parametrize("port", ["70000", "-1"])
def test_a_port_out_of_range_is_refused_before_the_model_loads(capsys, port):
    # Before, the whole model loaded and then asyncio raised OverflowError.
    from arcus_desktop import cli

    assert cli.main(["serve", "--port", port, "--model-dir", "/no/model/needed"]) == 2
    err = capsys.readouterr().err
    assert f"--port {port} is not a port" in err and "Traceback" not in err


def test_an_unwritable_certificate_folder_is_named_not_a_crash(capsys):
    from arcus_desktop import cli

    # /sys refuses a new folder to anyone (root too).
    assert cli.main(["serve", "--make-cert", "/sys/arcus-certs"]) == 2
    err = capsys.readouterr().err
    assert "/sys/arcus-certs" in err and "permissions" in err and "unexpected" not in err
