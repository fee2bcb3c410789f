"""The PersonaPlex websocket protocol as the client sees it (docs/PROTOCOL.md of the team
server; NVIDIA's reference server speaks its core): the chat address, the message kinds,
and what each refusal means to the user."""

from __future__ import annotations

import json
import socket
import ssl
from urllib.parse import urlencode, urlsplit, urlunsplit

from ..core.addresses import cleartext_problem, where
from ..core.errors import ArcusError, AuthError, NetworkError
from ..core.system_tag import clean
from ..core.transcript import SPACE
from . import tls

HANDSHAKE, AUDIO, TEXT, EVENT, CLOSING, PING = 0x00, 0x01, 0x02, 0x04, 0x05, 0x06
RATE = 24_000
DEFAULT_VOICE = "NATF2"

# Close codes and error codes the server may end a conversation with (PROTOCOL.md).
TRY_LATER = 1013  # full or draining
GONE = {1000, 1001, 1006, 1011, 1012, 1013, 1014}  # worth a reconnect mid-conversation
RETRY_CODES = {"full", "draining", "internal", "shutdown", "idle"}
PIECE_CHARS = 256  # a text piece is a token or a few words: more is no piece


class ServerUnavailable(NetworkError):
    """Unreachable, full, restarting: the same request may work a little later."""


class ServerRefused(ArcusError):
    """The server said no to this request (its parameters, its audio): retrying the same
    will not help."""


class TokenRefused(AuthError):
    pass


def base_url(server_url: str, websocket: bool) -> str:
    """The server's root as ws(s):// or http(s)://, from an address given either way, with
    or without /api/chat. An unencrypted address beyond loopback is refused."""
    parts = urlsplit(server_url.strip())
    secure = parts.scheme.lower() in ("https", "wss")
    if parts.scheme.lower() not in ("http", "https", "ws", "wss") or not parts.hostname:
        raise ArcusError(f"“{server_url}” is not a team server address.",
                         "Enter one like https://gpu-box:8998 in Settings > Engine.")
    problem = cleartext_problem(server_url)
    if problem:  # the token would travel in clear: never send it there
        raise ServerRefused(*problem)
    scheme = ("wss" if secure else "ws") if websocket else ("https" if secure else "http")
    path = parts.path.rstrip("/")
    if path.endswith("/api/chat"):
        path = path[: -len("/api/chat")]
    return urlunsplit((scheme, parts.netloc, path, "", ""))


def chat_url(server_url: str, text: str, voice: str, sampling: dict | None = None,
             seed: int | None = None) -> str:
    """The websocket address of one conversation. `sampling` has the engine's names
    (temperature, top_k, text_temperature, text_top_k); the server takes the names
    NVIDIA's web client sends."""
    # Cleaned here: NVIDIA's server wraps the role as it comes, tags and all.
    query = {"text_prompt": clean(text), "voice_prompt": voice_name(voice), "arcus": "1"}
    names = {"temperature": "audio_temperature", "top_k": "audio_topk",
             "text_temperature": "text_temperature", "text_top_k": "text_topk"}
    for ours, theirs in names.items():
        if (sampling or {}).get(ours) is not None:
            query[theirs] = str(sampling[ours])
    if seed is not None:
        # The names NVIDIA's web client sends. Never `seed`: their server's handler fails
        # on it (it looks the value up in the wrong place) and the conversation never starts.
        query["text_seed"] = query["audio_seed"] = str(seed)
    return f"{base_url(server_url, True)}/api/chat?{urlencode(query)}"


def voice_name(voice: str) -> str:
    voice = (voice or DEFAULT_VOICE).strip()
    return voice if voice.endswith(".pt") or voice.startswith("custom-") else voice + ".pt"


def parse(message) -> tuple[int | None, bytes]:
    """(kind, payload); kind None for what the protocol does not define (text frames,
    empty messages): ignored, as the reference does."""
    if not isinstance(message, (bytes, bytearray)) or not message:
        return None, b""
    return message[0], bytes(message[1:])


def piece(payload: bytes) -> str:
    """A text piece in the engine's form: the server's leading space back to "▁"; cut
    to PIECE_CHARS (a message may be a whole MiB)."""
    text = payload[:4 * PIECE_CHARS].decode("utf-8", errors="replace")[:PIECE_CHARS]
    return SPACE + text[1:] if text.startswith(" ") else text


def event(payload: bytes) -> dict | None:
    """A 0x04 event; None for what is not one (JSON nested too deep included)."""
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("type"), str) else None


def short(value, limit: int = 300) -> str:
    """A string the server sent, to show or compare: "" for anything else, cut to
    `limit` characters."""
    return value[:limit] if isinstance(value, str) else ""


def said(payload: bytes) -> str:
    """The server's 0x05 sentence, as much of it as a message to the user holds."""
    return payload[:1200].decode("utf-8", errors="replace")[:300]


def broken(server_url: str, what: str) -> ServerRefused:
    """The server broke the protocol (`what` it did): the conversation ends with this."""
    return ServerRefused(f"The team server at {where(server_url)} {what}, so the "
                         "conversation was ended.",
                         "Try again; if it keeps happening, ask the server's owner to "
                         "look at its log (the server may be broken, or not an Arcus "
                         "team server).")


# -- what a refusal means ----------------------------------------------------------------

def http_refusal(status: int, body: bytes, server_url: str, had_token: bool) -> ArcusError:
    """The server answered the websocket request with an HTTP error."""
    at, reason = where(server_url), _reason(body, status)
    said = f" It said: “{reason}”" if reason else ""
    if status == 401 or (status == 403 and had_token):
        if not had_token:
            return TokenRefused(f"The team server at {at} needs a token, and none is saved.",
                                "Enter the token from the server's owner in Settings > "
                                "Engine (it is kept in your system's password store).")
        return TokenRefused(f"The team server at {at} refused the token (HTTP {status}).{said}",
                            "Check the team server token in Settings > Engine, or ask the "
                            "server's owner for a new one.")
    if status == 403:
        return ServerRefused(f"The team server at {at} refused this app (HTTP 403).{said}",
                             "Ask the server's owner for a token and enter it in "
                             "Settings > Engine.")
    if status in (502, 503, 504):
        return ServerUnavailable(f"The team server at {at} cannot take a conversation now "
                                 f"(HTTP {status}).{said}", _FULL_HINT)
    if status == 404:
        return ServerRefused(f"{at} answered, but has no conversation endpoint (HTTP 404).",
                             "Check the address in Settings > Engine: it is the team "
                             "server's, e.g. https://gpu-box:8998.")
    return ServerRefused(f"The team server at {at} refused the conversation (HTTP {status})."
                         f"{said}", "Try again; if it keeps happening, ask the server's owner "
                                    "to look at its log.")


_FULL_HINT = ("Try again in a few minutes. If it stays full, ask the server's owner to "
              "allow more conversations (serve --max-sessions) or to add a server.")

_CODE_HINTS = {
    "full": _FULL_HINT,
    "draining": "It is shutting down for now; try again in a few minutes.",
    "prompt_too_long": "Shorten the persona's text in Settings > Persona (fewer recalled "
                       "memories help too).",
    "unknown_voice": "Choose one of the preset voices in Settings > Voice.",
    "bad_request": "Check the sampling settings in Settings > Sampling.",
    "rate_limited": "This app sent more than the server allows; try again.",
}


def closed(code: int | None, reason: str, said: str, error: str, server_url: str,
           started: bool) -> ArcusError:
    """The websocket closed: `code` and `reason` from its close frame, `said` the
    server's 0x05 sentence, `error` the code of its error event (any may be empty)."""
    at = where(server_url)
    if not error and reason and ":" in reason:
        error = reason.split(":", 1)[0].strip()
    text = said or (reason.split(":", 1)[-1].strip() if reason else "")
    told = f": {text}" if text else f" (close code {code})" if code else ""
    if error in ("full", "draining") or code == TRY_LATER:
        return ServerUnavailable(f"The team server at {at} cannot take a conversation now"
                                 f"{told}", _CODE_HINTS.get(error, _FULL_HINT))
    if error in RETRY_CODES or (code in GONE and not error):
        what = ("The connection to the team server at {at} was lost" if started else
                "The team server at {at} closed the connection before the conversation "
                "started").format(at=at)
        return ServerUnavailable(what + told, "Check your network, or ask the server's owner "
                                               "whether it is running.")
    return ServerRefused(f"The team server at {at} ended the conversation{told}",
                         _CODE_HINTS.get(error, "Try again; if it keeps happening, ask the "
                                                "server's owner to look at its log."))


def unreachable(error: BaseException, server_url: str, timeout: float,
                shown: str = "") -> ArcusError:
    """`shown`: the fingerprint of the certificate the server presented, when that
    certificate was refused (tls.presented)."""
    at = where(server_url)
    if isinstance(error, ssl.SSLCertVerificationError):
        told = tls.refusal(error, at, shown)
        return ServerRefused(told.message, told.hint)
    if isinstance(error, ssl.SSLError):
        return ServerRefused(f"A secure connection to {at} failed.",
                             "Check that the server runs with TLS (serve --ssl). A server "
                             "without TLS can be used only on its own computer, or through "
                             "an SSH tunnel as http://localhost:PORT.")
    if isinstance(error, (TimeoutError, socket.timeout)):
        return ServerUnavailable(f"The team server at {at} did not answer within {timeout:g} s.",
                                 "Check your network (a VPN?), or ask the server's owner "
                                 "whether it is running.")
    if isinstance(error, socket.gaierror):
        return ServerUnavailable(f"The team server's name in {at} cannot be found.",
                                 "Check the address in Settings > Engine, and your network "
                                 "(a VPN?).")
    if isinstance(error, ConnectionRefusedError):
        return ServerUnavailable(f"Nothing answers at {at}: the team server is not running "
                                 "there, or the port is wrong.",
                                 "Check the address in Settings > Engine, and ask the "
                                 "server's owner whether it is running.")
    return ServerUnavailable(f"The team server at {at} cannot be reached ({error}).",
                             "Check the address in Settings > Engine and your network.")


def _reason(body: bytes, status: int) -> str:
    """The server's own words from an error body: JSON's message, or short plain text
    that is more than the status line."""
    text = (body or b"")[:2000].decode("utf-8", errors="replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        text = str(data.get("message") or data.get("reason") or data.get("error") or "")
    if not text or text.startswith(f"{status}:") or "<" in text[:1]:
        return ""  # aiohttp's default "503: Service Unavailable", an HTML page
    return text[:300]
