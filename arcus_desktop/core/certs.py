"""Certificate fingerprints as people compare them: the SHA-256 of the certificate's DER,
in upper-case hex pairs joined by colons (what `openssl x509 -fingerprint -sha256` and
browsers show). The server prints it; the app pins it."""

from __future__ import annotations

import hashlib
import re

_HEX = re.compile(r"[0-9A-F]{64}")
_PREFIX = re.compile(r"^(SHA-?256\s*(FINGERPRINT)?\s*[:=]?)", re.IGNORECASE)


def fingerprint(der: bytes) -> str:
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def normalize(text: str) -> str | None:
    """The fingerprint in `text` in the colon form, or None when it is not one. Pasted
    forms are accepted: lower case, without colons, with spaces, or openssl's whole
    line ("sha256 Fingerprint=AB:CD:…")."""
    text = _PREFIX.sub("", (text or "").strip())
    digits = re.sub(r"[\s:\-]", "", text).upper()
    if not _HEX.fullmatch(digits):
        return None
    return ":".join(digits[i:i + 2] for i in range(0, 64, 2))
