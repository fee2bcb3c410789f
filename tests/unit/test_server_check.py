"""Test connection (bridge/server_check.py) refuses to send the token in clear beyond
this computer (issue 15), against a real /healthz on loopback."""

from arcus_desktop.bridge.server_check import check_server

from ..health_stub import TOKEN, health_server


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
