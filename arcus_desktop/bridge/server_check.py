""""Test connection" for a team server: one GET of `<address>/healthz` (what `serve`
answers for orchestrators and clients), told in words a user can act on; all of it
within the timeout, no redirect followed (remote/fetch.py). With a pinned
certificate fingerprint it accepts exactly that certificate, as the remote engine does
(remote/tls.py); a certificate the user could trust is reported with its fingerprint.
Blocking: run it through `bridge.tasks`, never on the GUI thread."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from ..core.addresses import address_problem, cleartext_problem
from ..remote import tls
from ..remote.fetch import Redirected, fetch

TIMEOUT_S = 5.0


@dataclass(frozen=True)
class ServerCheck:
    ok: bool
    text: str
    presented: str = ""  # the fingerprint of a refused certificate the user may trust
    detail: str = ""  # the library's own words (OpenSSL's), for "Details"


def health_url(address: str) -> str:
    """http(s)://host:port/healthz for an address given as http(s) or ws(s), with or
    without the chat path."""
    parts = urlsplit(address.strip())
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme.lower(), parts.scheme.lower())
    path = parts.path.rstrip("/")
    if path.endswith("/api/chat"):
        path = path[: -len("/api/chat")]
    return urlunsplit((scheme, parts.netloc, f"{path}/healthz", "", ""))


def check_server(address: str, token: str = "", timeout: float = TIMEOUT_S,
                 fingerprint: str = "") -> ServerCheck:
    problem = address_problem(address)
    if problem:
        return ServerCheck(False, problem)
    parts = urlsplit(address.strip())
    try:
        port = parts.port
    except ValueError:
        return ServerCheck(False, f"The port in {address} is not a number from 1 to 65535.")
    where = parts.hostname + (f":{port}" if port else "")
    problem = cleartext_problem(address)
    if problem:  # the token would travel in clear: never send it there
        return ServerCheck(False, " ".join(problem))
    url = health_url(address)
    request = urllib.request.Request(url, headers={"User-Agent": "arcus-desktop"})
    if token.strip():
        request.add_header("Authorization", f"Bearer {token.strip()}")
    pinned = request.type == "https" and bool(fingerprint.strip())
    try:
        context = tls.client_context(fingerprint) if pinned else None
    except ValueError:
        return ServerCheck(False, "The certificate fingerprint is not a SHA-256 fingerprint: "
                                  "32 pairs of hex digits, like 3A:F1:…, as the server's "
                                  "owner gave it.")
    start = time.monotonic()
    try:
        body = fetch(request, timeout, timeout, context, 4096)
    except urllib.error.HTTPError as e:
        return ServerCheck(False, _http_error(e.code, where))
    except Redirected as e:
        return ServerCheck(False, f"{where} answered with a redirect (HTTP {e.code} to "
                                  f"{e.location}), which Arcus does not follow: a team "
                                  "server never redirects. Check the address: is it the "
                                  "team server's own?")
    except urllib.error.URLError as e:
        return _unreachable(e.reason, where, url, timeout)
    except (TimeoutError, socket.timeout):
        return ServerCheck(False, f"{where} did not answer within {timeout:g} s.")
    except OSError as e:  # a connection reset halfway, and the like
        return _unreachable(e, where, url, timeout)
    except http.client.HTTPException:  # a bad status line, endless headers, cut short
        return ServerCheck(False, f"{where} answered, but not in HTTP as a team server "
                                  "does. Check the address: is it the team server's own?")
    ms = (time.monotonic() - start) * 1000
    trusted = "; its certificate is the one you trusted" if pinned else ""
    return ServerCheck(True, f"Connected: {where} is ready (answered in {ms:.0f} ms)"
                             f"{_details(body)}{trusted}.")


def _details(body: bytes) -> str:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, or nested too deep to read
        return ""
    if isinstance(data, dict):
        for key in ("free_slots", "free_sessions", "slots_free"):
            if isinstance(data.get(key), int):
                n = data[key]
                return f", {n} free conversation slot{'' if n == 1 else 's'}"
    return ""


def _http_error(code: int, where: str) -> str:
    if code in (401, 403):
        return (f"{where} refused the token (HTTP {code}). "
                "Check the server token, or ask the server's owner for one.")
    if code == 404:
        return (f"{where} answered, but has no /healthz (HTTP 404): "
                "is this address an Arcus team server?")
    if code in (502, 503, 504):
        return (f"{where} answered but is not ready (HTTP {code}): it may still be loading "
                "the model, be full, or be shutting down. Try again in a minute.")
    return f"{where} answered with an error (HTTP {code})."


def _unreachable(reason, where: str, url: str, timeout: float) -> ServerCheck:
    if isinstance(reason, ssl.SSLCertVerificationError):
        shown = getattr(reason, "presented", "")  # a pin mismatch knows it
        if not shown and tls.offers_pin(reason):
            shown = tls.presented(url, timeout)
        return ServerCheck(False, tls.refusal(reason, where, shown, here=True).user_text(),
                           shown, detail=tls.raw_reason(reason))
    return ServerCheck(False, _why(reason, where, timeout))


def _why(reason, where: str, timeout: float) -> str:
    if isinstance(reason, ssl.SSLError):
        return (f"A secure connection to {where} failed: does the server use TLS? A server "
                "without it can be used only on its own computer, or through an SSH tunnel "
                "as http://localhost:PORT.")
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return f"{where} did not answer within {timeout:g} s."
    if isinstance(reason, socket.gaierror):
        return f"The host name in {where} cannot be found. Check the address."
    if isinstance(reason, ConnectionRefusedError):
        return (f"Nothing answers at {where} (connection refused). "
                "Check the address and port, and that the server is running.")
    return f"{where} cannot be reached ({reason}). Check the address and your network."
