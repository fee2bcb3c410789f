"""Which server addresses may carry a token or password: encrypted ones (https, wss), and
unencrypted ones only to this computer itself (loopback), where nobody else can listen."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

CLEARTEXT_SCHEMES = ("http", "ws")


def is_loopback(host: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1 (with or without brackets)."""
    host = (host or "").strip().strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def cleartext_problem(url: str, what: str = "team server") -> tuple[str, str] | None:
    """(why, what to do) when `url` would send credentials unencrypted beyond this
    computer; None when it is fine (or not a URL at all: other checks say so)."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in CLEARTEXT_SCHEMES or not parts.hostname:
        return None
    if is_loopback(parts.hostname):
        return None
    scheme = parts.scheme.lower()
    secure = "https" if scheme == "http" else "wss"
    try:
        port = parts.port or 80
    except ValueError:
        port = 80
    return (f"{scheme}:// is not encrypted: the {what}'s token or password, and everything "
            f"sent, would cross the network in clear to {parts.hostname}.",
            f"Use a {secure}:// address (the server needs TLS), or reach the server through "
            f"an SSH tunnel (ssh -L {port}:localhost:{port} {parts.hostname}) and use "
            f"{scheme}://localhost:{port}.")
