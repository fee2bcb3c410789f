"""Test connection (bridge/server_check.py) refuses to send the token in clear beyond
this computer (issue 15), against a real /healthz on loopback; and stays safe with a
server that redirects, drips its answer or sends JSON nested too deep."""

import threading

from arcus_desktop.bridge.server_check import check_server

from ..health_stub import TOKEN, health_server
from ..hostile_http import ENDLESS, answering, ok, redirect


def test_the_token_goes_unencrypted_only_to_this_computer():
    with health_server() as url:
        port = url.rsplit(":", 1)[1]
        assert check_server(url, TOKEN).ok
        assert check_server(f"ws://localhost:{port}", TOKEN).ok
        # 0.0.0.0 is not loopback, yet reaches the stub here: the check would have sent
        # the token there in clear.
        refused = check_server(f"http://0.0.0.0:{port}", TOKEN)
    assert not refused.ok
    assert "not encrypted" in refused.text and "https://" in refused.text
    assert "SSH tunnel" in refused.text


def test_a_redirect_is_not_followed_and_the_token_stays_here():
    # urllib follows redirects with the Authorization header, even from https to http.
    with answering(ok(b'{"free_slots": 2}')) as (elsewhere, seen), \
            answering(redirect(f"{elsewhere}/healthz")) as (url, _):
        check = check_server(url, TOKEN)
    assert not check.ok and seen == []
    assert "redirect (HTTP 302 to http://127.0.0.1:" in check.text
    assert "does not follow" in check.text


def test_a_server_that_drips_its_answer_is_given_up_at_the_timeout():
    # urllib's timeout is per read: a byte every 50 ms would hold the check for hours.
    found = {}
    with answering(ENDLESS, drip_s=0.05) as (url, _):
        check = threading.Thread(target=lambda: found.update(check=check_server(url, TOKEN,
                                                                                timeout=0.5)))
        check.start()
        check.join(20)
        assert not check.is_alive(), "the check is still waiting"
    assert not found["check"].ok
    assert found["check"].text.endswith("did not answer within 0.5 s.")


def test_an_answer_nested_too_deep_for_json_still_says_connected():
    with answering(ok(b"[" * 4096)) as (url, _):
        check = check_server(url, TOKEN)
    assert check.ok and check.text.startswith("Connected:")


def test_an_answer_that_is_not_http_says_so():
    # http.client's own errors (a bad status line, endless headers) are no OSError.
    for answer in (b"HELLO\r\n\r\n", b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70_000 + b"\r\n\r\n"):
        with answering(answer) as (url, _):
            check = check_server(url, TOKEN)
        assert not check.ok and "not in HTTP as a team server does" in check.text
