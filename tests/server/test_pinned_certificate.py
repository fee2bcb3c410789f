"""A team server with a self-signed certificate from `serve --make-cert`, used the SSH
way: the app's remote engine pins the fingerprint the admin printed, and talks over
wss:// to the real server (the tiny model) on loopback. Without the pin, or with another
one, it refuses, saying what it saw and what to do."""

from __future__ import annotations

import logging
import re

import numpy as np
import pytest

from arcus_desktop.bridge.remote_supervisor import RemoteSupervisor
from arcus_desktop.cli import main
from arcus_desktop.remote import protocol as P
from arcus_desktop.remote import tls
from arcus_desktop.remote.client import RemoteLoop
from arcus_desktop.remote.host import RemoteConfig

from ..integration.test_engine_host import Watch
from ..integration.test_remote_client import FAST, TONE, Events, talk
from .conftest import start_server

TOKEN = "team-token-0123456789"
PERSONA = {"text": "You are calm.", "voice": "NATF2"}
WAIT_MS = 60_000
FINGERPRINT = re.compile(r"SHA-256 fingerprint: ((?:[0-9A-F]{2}:){31}[0-9A-F]{2})\n")


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """The certificate folder and the fingerprint `serve --make-cert` printed."""
    import contextlib
    import io

    folder = tmp_path_factory.mktemp("cert") / "arcus-cert"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["serve", "--make-cert", str(folder), "--cert-name", "gpu-box.example"]) == 0
    printed = out.getvalue()
    found = FINGERPRINT.search(printed)
    assert found, printed
    assert "Settings > Engine > Team server" in printed  # where the team enters it
    return folder, found[1]


@pytest.fixture(scope="module")
def running(engine, made):
    server = start_server(engine, max_sessions=2, token=TOKEN, ssl_dir=made[0])
    yield server
    server.close()


def requests(running) -> tuple[int, int]:
    """Conversations the server let in, and those it refused (a wrong token too)."""
    return running.server.started_total, sum(running.server.refused.values())


def open_loop(running, fingerprint: str) -> RemoteLoop:
    loop = RemoteLoop(running.http, TOKEN, PERSONA, None, None, Events(), FAST,
                      fingerprint=fingerprint)
    loop.start()
    return loop


def test_make_cert_prints_the_fingerprint_the_client_is_shown(running, made):
    folder, printed = made
    assert tls.presented(running.http, 10) == printed  # what a client's handshake sees
    from arcus_desktop.server.tls import fingerprint_of

    assert fingerprint_of(folder) == printed  # what `serve --ssl` prints when it starts


def test_with_the_pinned_fingerprint_a_conversation_runs_over_wss(running, made):
    assert running.base.startswith("wss://")
    # Pasted as people paste it: lower case, no colons.
    pin = made[1].replace(":", "").lower()
    with open_loop(running, pin) as loop:
        assert loop.session.get("protocol") == 1  # the server's session event came
        steps = talk(loop, 20, TONE)
    assert loop.error is None and loop.received >= 20
    assert any(float(np.abs(s.pcm).max()) > 0 for s in steps)  # the model's voice came back
    running.wait_idle()


def test_without_a_pin_the_fingerprint_is_shown_with_the_way_to_trust_it(running, made,
                                                                         caplog):
    caplog.set_level(logging.DEBUG)
    loop = open_loop(running, "")
    with pytest.raises(P.ServerRefused) as refused:
        loop.wait_ready(60)
    loop.close()
    message, hint = refused.value.message, refused.value.hint
    assert made[1] in message and "self-signed" in message
    assert "Trust this certificate" in hint and "Certificate fingerprint" in hint
    assert "intercept" in hint  # and what a different one would mean
    assert "Traceback" not in refused.value.user_text()
    assert not [r for r in caplog.records if r.exc_info], "a failure logged as a bug"


def test_a_different_pin_is_refused_as_a_possible_interception(running, made):
    other = ":".join(["AB"] * 32)
    before = requests(running)
    loop = open_loop(running, other)
    with pytest.raises(P.ServerRefused) as refused:
        loop.wait_ready(60)
    loop.close()
    message, hint = refused.value.message, refused.value.hint
    assert "intercepting" in message and made[1] in message and other in message
    assert "new certificate" in hint
    # Refused inside the TLS handshake: the request (and its token) never went out.
    assert requests(running) == before


def test_a_certificate_this_computer_trusts_keeps_the_usual_checks(running, made,
                                                                    monkeypatch):
    """As if the admin's certificate were in the system's store (or from a CA): no pin
    needed, and the usual checks (CA, host name) are what accept it."""
    from arcus_desktop.bridge.server_check import check_server

    monkeypatch.setenv("SSL_CERT_FILE", str(made[0] / "cert.pem"))  # OpenSSL's trust store
    with open_loop(running, "") as loop:
        assert loop.session.get("protocol") == 1
    running.wait_idle()
    check = check_server(running.http, TOKEN)
    assert check.ok and "trusted" not in check.text  # no pin involved
    assert tls.client_context("") is None  # the library's default context


@pytest.mark.parametrize("pin", ["", "wrong"])
def test_the_app_s_engine_process_says_so_too(qtbot, running, made, pin):
    """The settings' fingerprint reaches the engine process (RemoteConfig), whose
    refusal reaches the app as words, not a crash."""
    fingerprint = ":".join(["0F"] * 32) if pin == "wrong" else ""
    supervisor = RemoteSupervisor(RemoteConfig(server_url=running.http, token=TOKEN,
                                               fingerprint=fingerprint, client=FAST))
    seen = Watch(supervisor)
    try:
        qtbot.waitUntil(lambda: seen.count("ready") == 1, timeout=WAIT_MS)
        supervisor.talk(PERSONA)
        qtbot.waitUntil(lambda: bool(seen.failed) and seen.count("ready") == 2,
                        timeout=WAIT_MS)
    finally:
        code = supervisor.shutdown(timeout_s=10)
    assert code == 0 and seen.restarts == [] and seen.count("talking") == 0
    (message, hint), = seen.failed
    assert made[1] in message and "Traceback" not in message + hint
    if pin == "wrong":
        assert "intercepting" in message
    else:
        assert "does not trust" in message and "Trust this certificate" in hint


@pytest.mark.slow
def test_serve_prints_the_fingerprint_when_it_starts(tiny_model, made):
    """The admin can read it again from the running server's log."""
    import os
    import signal
    import subprocess
    import sys

    from .test_serve_command import ROOT, _free_port

    env = dict(os.environ, PYTHONPATH=str(ROOT), NO_TORCH_COMPILE="1")
    env.pop("ARCUS_SERVER_TOKEN", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "arcus_desktop", "serve", "--model-dir", str(tiny_model),
         "--device", "cpu", "--port", str(_free_port()), "--ssl", str(made[0]), "--no-stt"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env, cwd=ROOT)
    try:
        lines = []
        for line in proc.stderr:  # ends when the process does
            lines.append(line)
            if "fingerprint" in line:
                break
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert any(line.startswith("serving") and "https://" in line for line in lines), lines
    assert lines[-1].strip() == f"certificate SHA-256 fingerprint: {made[1]}"
