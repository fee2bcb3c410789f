"""Who may use the server: the token (header or query), and, on a server without one,
only pages served from this computer."""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from .config import is_loopback


def token_ok(expected: str, headers, query) -> bool:
    """`Authorization: Bearer <token>` or `?token=<token>`; no token configured: yes."""
    if not expected:
        return True
    given = query.get("token", "")
    header = headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        given = header[7:].strip()
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def origin_ok(has_token: bool, headers) -> bool:
    """A browser page from elsewhere must not use a server that has no token: websockets
    are not held back by the browser's same-origin rules."""
    origin = headers.get("Origin")
    if has_token or not origin:
        return True
    try:
        host = urlsplit(origin).hostname
    except ValueError:
        return False
    return bool(host) and is_loopback(host)
