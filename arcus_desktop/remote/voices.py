"""The user's own voice recording, sent to the team server (`POST /api/voices`, an
extension of ours): the server answers with the name to use as voice_prompt."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request

from ..core.errors import ArcusError
from . import protocol as P
from . import tls
from .fetch import Redirected, fetch

LIMIT = 8 * 2 ** 20  # the server takes at most 8 MiB
SLOW_LINK = 50_000  # bytes a second the upload may take, beyond the timeout


def upload(server_url: str, path: str, token: str | None, timeout: float,
           fingerprint: str = "") -> str:
    """POST the user's voice recording to the server's /api/voices (an extension); the
    name to use as voice_prompt. Raises ArcusError when the server will not take it,
    or takes longer than `timeout` plus the upload's time on a slow link.
    `fingerprint`: the server's pinned certificate (remote/tls.py)."""
    at = P.where(server_url)
    try:
        with open(path, "rb") as f:
            body = f.read(LIMIT + 1)
    except OSError as e:
        raise ArcusError(f"Your voice recording cannot be read ({e.strerror}).") from None
    request = urllib.request.Request(f"{P.base_url(server_url, False)}/api/voices", data=body,
                                     method="POST",
                                     headers={"Content-Type": "application/octet-stream",
                                              "User-Agent": "arcus-desktop"})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    deadline = timeout + len(body) / SLOW_LINK
    try:
        context = tls.client_context(fingerprint) if request.type == "https" else None
        reply = fetch(request, timeout, deadline, context)
    except urllib.error.HTTPError as e:
        if e.code in (404, 405):
            raise ArcusError(f"The team server at {at} cannot use your own voice "
                             "recording.") from None
        if e.code == 413:
            raise ArcusError("Your voice recording is too large for the team server "
                             "(8 MiB at most).") from None
        if e.code == 503:  # its uploads in flight are full (server/app.py)
            raise ArcusError(f"The team server at {at} is busy taking other voice "
                             "recordings.", "Start the conversation again in a moment.") from None
        raise ArcusError(f"The team server at {at} did not take your voice recording "
                         f"(HTTP {e.code}).") from None
    except Redirected as e:
        raise ArcusError(f"The team server at {at} answered your voice recording with a "
                         f"redirect (HTTP {e.code} to {e.location}), which Arcus does not "
                         "follow: a team server never redirects.") from None
    except TimeoutError:
        raise ArcusError(f"The team server at {at} did not take your voice recording "
                         f"within {deadline:.0f} s.") from None
    except (OSError, ValueError) as e:
        raise ArcusError(f"Your voice recording could not be sent to {at} ({e}).") from None
    except http.client.HTTPException:  # a bad status line, endless headers, cut short
        raise ArcusError(f"The team server at {at} answered your voice recording in a "
                         "way Arcus cannot read.") from None
    try:
        answer = json.loads(reply)
    except (ValueError, RecursionError):  # not JSON, or nested too deep to read
        answer = None
    name = answer.get("voice_prompt") if isinstance(answer, dict) else None
    if not isinstance(name, str) or not name or len(name) > 200:
        raise ArcusError(f"The team server at {at} did not name your uploaded voice.")
    return name
