"""TLS to a team server, the SSH way: a server whose certificate no CA vouches for (one
from `serve --make-cert`) is trusted by its SHA-256 fingerprint, which the server's owner
hands to the team. With a pinned fingerprint exactly that certificate is accepted
(instead of the CA and host name checks); without one, the usual checks apply, and a
certificate they refuse is reported with the fingerprint it has, for the user to compare.

The pin is checked inside the TLS handshake, so nothing (the token least of all) is sent
to a server that presents another certificate."""

from __future__ import annotations

import socket
import ssl
from urllib.parse import urlsplit

from ..core.certs import fingerprint, normalize
from ..core.errors import ArcusError

# OpenSSL's verify codes worth offering a pin for: a certificate nobody vouches for
# (self-signed, unknown issuer) or one made for another name. Not expiry and the like.
TRUSTABLE = {2, 18, 19, 20, 21, 62, 64}
HOW_TO_TRUST = ("in Settings > Engine, click “Test connection”, then “Trust this "
                "certificate…”, or enter the fingerprint under “Certificate fingerprint”.")


class PinMismatch(ssl.SSLCertVerificationError):
    """The server presented a certificate other than the pinned one."""

    def __init__(self, presented: str, expected: str) -> None:
        super().__init__(f"the certificate's fingerprint is {presented}, not {expected}")
        self.presented, self.expected = presented, expected
        self.verify_code, self.verify_message = 0, "not the pinned certificate"


def _check(connection) -> None:
    presented = fingerprint(connection.getpeercert(binary_form=True) or b"")
    if presented != connection.context.pin:
        raise PinMismatch(presented, connection.context.pin)


class _PinnedObject(ssl.SSLObject):  # asyncio's TLS (the websocket)
    def do_handshake(self) -> None:
        super().do_handshake()
        _check(self)


class _PinnedSocket(ssl.SSLSocket):  # blocking sockets (urllib)
    def do_handshake(self, block: bool = False) -> None:
        super().do_handshake(block)
        _check(self)


class _PinnedContext(ssl.SSLContext):
    sslobject_class = _PinnedObject
    sslsocket_class = _PinnedSocket
    pin = ""


def client_context(pin: str | None) -> ssl.SSLContext | None:
    """The context for https/wss to the server: None (the library's default checks)
    without a pin, else one that accepts exactly the pinned certificate. Raises
    ValueError for a pin that is not a SHA-256 fingerprint."""
    if not (pin or "").strip():
        return None
    canonical = normalize(pin)
    if canonical is None:
        raise ValueError(f"not a SHA-256 fingerprint: {pin!r}")
    ctx = _PinnedContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = False  # the pin replaces the name and CA checks
    ctx.verify_mode = ssl.CERT_NONE
    ctx.pin = canonical
    return ctx


def offers_pin(error: BaseException) -> bool:
    """Whether the user may settle `error` by pinning the server's certificate."""
    return isinstance(error, PinMismatch) or (
        isinstance(error, ssl.SSLCertVerificationError)
        and getattr(error, "verify_code", None) in TRUSTABLE)


def presented(server_url: str, timeout: float) -> str:
    """The fingerprint of the certificate the server presents ("" when it cannot be
    read). Only a handshake: nothing is sent, so it is safe with any server."""
    parts = urlsplit(server_url.strip())
    try:
        host, port = parts.hostname, parts.port or 443
    except ValueError:
        return ""
    if not host:
        return ""
    look = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    look.check_hostname, look.verify_mode = False, ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw, \
                look.wrap_socket(raw, server_hostname=host) as tls:
            return fingerprint(tls.getpeercert(binary_form=True) or b"")
    except (OSError, ValueError):
        return ""


# OpenSSL's verify codes in plain words (its own text is kept for "Details").
PLAIN = {
    18: "it is self-signed: the server vouches for itself, and no authority this computer "
        "trusts does",
    19: "it is signed by a self-signed authority that this computer does not know",
    2: "no authority this computer trusts has signed it",
    20: "no authority this computer trusts has signed it",
    21: "no authority this computer trusts has signed it",
    62: "it was made for another name than the one in the address",
    64: "it was made for another IP address than the one in the address",
    10: "it has expired",
    9: "it is not valid yet (check this computer's date and time)",
    23: "its authority has revoked it",
}


def plain_reason(error: ssl.SSLCertVerificationError) -> str:
    """Why the certificate was refused, for someone who does not read OpenSSL."""
    return PLAIN.get(getattr(error, "verify_code", None), "it could not be verified")


def raw_reason(error: ssl.SSLCertVerificationError) -> str:
    """OpenSSL's own words, for "Details"."""
    return getattr(error, "verify_message", "") or str(error)


def refusal(error: ssl.SSLCertVerificationError, at: str, shown: str = "",
            here: bool = False) -> ArcusError:
    """What a refused certificate means to the user. `shown`: the fingerprint the
    server presented, if known; `here`: told on the settings page itself, next to the
    "Trust this certificate…" button."""
    if isinstance(error, PinMismatch):
        return ArcusError(
            f"The team server at {at} presented a different certificate from the one you "
            f"trusted: its fingerprint is {error.presented}, but you trusted "
            f"{error.expected}. Someone may be intercepting the connection, so Arcus "
            "did not connect.",
            "Ask the server's owner whether they made a new certificate. Only if they did, "
            "and its fingerprint matches the one above, trust it in its place"
            + (" (“Trust this certificate…”)." if here else
               " (Settings > Engine: “Test connection”, then “Trust this certificate…”).")
            + " Otherwise, do not use this network for the team server.")
    reason = plain_reason(error)
    if not offers_pin(error):
        return ArcusError(f"The team server at {at} has a certificate this computer does "
                          f"not accept: {reason}.",
                          "Ask the server's owner to renew it (serve --make-cert) or to "
                          "use one from a trusted CA.")
    if not shown:
        return ArcusError(f"The team server at {at} has a certificate this computer does "
                          f"not trust: {reason}. Its fingerprint could not be read.",
                          "Ask the server's owner for the certificate's SHA-256 fingerprint "
                          "and enter it under “Certificate fingerprint” in Settings > "
                          "Engine.")
    return ArcusError(
        f"The team server at {at} has a certificate this computer does not trust: "
        f"{reason}. Its SHA-256 fingerprint is {shown}.",
        "If it matches the fingerprint the server's owner gave you, trust it: "
        + ("“Trust this certificate…”." if here else HOW_TO_TRUST)
        + " If it does not match, do not connect: someone may be intercepting the "
          "connection.")
