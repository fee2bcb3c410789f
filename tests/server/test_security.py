"""Secure by default: tokens, TLS, browser origins, and the refusal to listen beyond
loopback without both. The module's server runs with a token over TLS (a certificate
from `serve --make-cert`)."""

import asyncio
import ssl

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


async def _post_voice(http_base, trust, headers):
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{http_base}/api/voices", data=b"RIFF", headers=headers, ssl=trust) as r:
            return r.status, await r.text()


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
