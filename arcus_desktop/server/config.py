"""What a server is started with, and the rule that keeps it safe by default."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..core.addresses import is_loopback  # noqa: F401 (server/auth.py takes it from here)
from ..core.errors import ArcusError

DEFAULT_PORT = 8998
MIN_TOKEN_CHARS = 16
TOKEN_ENV = "ARCUS_SERVER_TOKEN"


@dataclass
class Limits:
    message_bytes: int = 64 * 1024  # one websocket message
    messages_per_s: float = 200.0  # sustained; bursts of `burst_s` seconds' worth pass
    bytes_per_s: float = 256 * 1024
    burst_s: float = 2.0
    # Websocket frames of any kind, fragments and pings included (frames.py): a message
    # of endless empty fragments never reaches the message count above.
    frames_per_s: float = 1000.0
    message_fragments: int = 64
    backlog_s: float = 10.0  # the client's audio waiting to be stepped
    pending_frames: int = 250  # frames waiting to be sent to the client (20 s)
    unread_s: float = 20.0  # the client has not read what was sent this long ago
    ping_s: float = 2.0  # how often the server pings (to measure what the client has read)
    idle_s: float = 30.0  # no audio from the client
    upload_bytes: int = 8 * 2**20  # POST /api/voices
    upload_s: float = 30.0  # the whole upload's body
    uploads: int = 4  # being read or decoded at once (each holds its body); 503 beyond
    uploaded_voices: int = 64
    # Connections that have not yet sent a request with the token (or any request, on a
    # server without one): how long they may take, and how many may wait.
    header_s: float = 10.0  # from connecting (TLS handshake included) to the request's head
    unauthorised_per_address: int = 16
    unauthorised_total: int = 256  # also kept well under the open-files limit (gate.py)
    keepalive_s: float = 15.0  # an idle HTTP keep-alive connection


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    ssl_dir: Path | None = None
    token: str = ""
    max_sessions: int = 8
    prompt_budget: int = 200  # the persona text's token budget
    limits: Limits = field(default_factory=Limits)
    drain_s: float = 600.0  # on SIGTERM, how long running conversations may go on
    codec_workers: int | None = None  # Opus worker processes; None: by the cores; 0: none
    # A load balancer's agent check and readiness probe (agent.py): off unless a port
    # is given (0: any free port, for tests).
    agent_host: str = "127.0.0.1"
    agent_port: int | None = None

    @property
    def tls(self) -> bool:
        return self.ssl_dir is not None


def set_limit(limits: Limits, assignment: str) -> None:
    """`--limit NAME=VALUE`: one field of Limits, of that field's type."""
    name, _, value = assignment.partition("=")
    name = name.strip().replace("-", "_")
    current = getattr(limits, name, None) if name in Limits.__dataclass_fields__ else None
    if current is None:
        raise ArcusError(f"--limit {assignment}: there is no limit called {name!r}.",
                         "Known limits: " + ", ".join(Limits.__dataclass_fields__) + ".")
    try:
        parsed = type(current)(value)
    except ValueError:
        raise ArcusError(f"--limit {assignment}: {value!r} is not a number.") from None
    if parsed <= 0:
        raise ArcusError(f"--limit {assignment}: the value must be above 0.")
    setattr(limits, name, parsed)


def check(config: ServerConfig) -> None:
    """Refuse to listen beyond this computer without a token and TLS."""
    if config.max_sessions < 1:
        raise ArcusError("--max-sessions must be at least 1.")
    # Checked before the model loads: a port out of range failed only minutes later.
    for flag, port in (("--port", config.port), ("--agent-port", config.agent_port)):
        if port is not None and not 0 <= port <= 65535:  # 0: any free port
            raise ArcusError(f"{flag} {port} is not a port: use a number from 1 to 65535.",
                             f"The default is {DEFAULT_PORT}." if flag == "--port" else "")
    if config.codec_workers is not None and not 0 <= config.codec_workers <= 64:
        raise ArcusError("--codec-workers must be between 0 and 64.",
                         "0 codes Opus in the server's own process.")
    if config.token and len(config.token) < MIN_TOKEN_CHARS:
        raise ArcusError(f"The token is too short ({len(config.token)} characters); use at "
                         f"least {MIN_TOKEN_CHARS}.",
                         "For example: python -c 'import secrets; print(secrets.token_urlsafe(24))'")
    if config.tls:
        for name in ("cert.pem", "key.pem"):
            if not (Path(config.ssl_dir) / name).is_file():
                raise ArcusError(f"{Path(config.ssl_dir) / name} does not exist.",
                                 "Give --ssl a folder with cert.pem and key.pem, or make one "
                                 "with `arcus-desktop serve --make-cert DIR`.")
    if is_loopback(config.host):
        return
    missing = [what for what, ok in (("a token", bool(config.token)), ("TLS", config.tls)) if not ok]
    if missing:
        raise ArcusError(
            f"Listening on {config.host} lets other computers connect, which needs "
            f"{' and '.join(missing)}.",
            f"Set a token with --token-file FILE or ${TOKEN_ENV}, and TLS with --ssl DIR "
            "(`arcus-desktop serve --make-cert DIR` makes a self-signed certificate). "
            "Or listen on 127.0.0.1 only.")


def read_token(token: str | None, token_file: str | None) -> str:
    """--token, else --token-file, else $ARCUS_SERVER_TOKEN; surrounding spaces dropped."""
    if token:
        return token.strip()
    if token_file:
        try:
            return Path(token_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as e:
            raise ArcusError(f"The token file {token_file} cannot be read.") from e
    return os.environ.get(TOKEN_ENV, "").strip()
