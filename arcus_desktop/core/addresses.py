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
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # "https://[fd00::1", half typed: address_problem says what
        return None
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
    try:
        parts = urlsplit(text)
    except ValueError:  # an unclosed "[" of an IPv6 address
        return "Close the IPv6 address with “]”, e.g. https://[fd00::1]:8998."
    if not parts.hostname:
        return "The address names no host, e.g. https://gpu-box:8998."
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0 and parts.netloc.rpartition("]")[2].count(":"):
        typed = parts.netloc.rpartition(":")[2]
        return f"The port must be a number from 1 to 65535, not “{typed}”, e.g. https://gpu-box:8998."
    return ""


def where(server_url: str) -> str:
    """host:port, for messages."""
    try:
        parts = urlsplit(server_url.strip())
        port = parts.port
    except ValueError:
        return server_url.strip()
    return (parts.hostname or server_url.strip()) + (f":{port}" if port else "")
