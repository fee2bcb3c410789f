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


def address_problem(address: str) -> str:
    """What is wrong with a typed server address, precisely; "" when it can be tried."""
    text = address.strip()
    if not text:
        return "Enter the server's address first, e.g. https://gpu-box:8998."
    scheme, sep, rest = text.partition("://")
    host = (rest if sep else text).split("/", 1)[0]
    if any(c.isspace() for c in host):
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        return (f"A host name cannot contain spaces (“{name}”): remove them, or ask the "
                f"server's owner for its exact name (such as {'-'.join(name.split())}).")
    if not sep:
        return (f"Start the address with https:// (or http://, ws://, wss://), e.g. "
                f"https://{text}.")
    if scheme.lower() not in ("http", "https", "ws", "wss"):
        return (f"“{scheme}://” is not a server address: use https:// (or http://, ws://, "
                "wss://).")
    if not _hostname(text):
        return "The address names no host, e.g. https://gpu-box:8998."
    return ""


def _hostname(url: str) -> str | None:
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


def where(server_url: str) -> str:
    """host:port, for messages."""
    parts = urlsplit(server_url.strip())
    try:
        port = parts.port
    except ValueError:
        port = None
    return (parts.hostname or server_url.strip()) + (f":{port}" if port else "")
