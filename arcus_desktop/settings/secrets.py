"""Secrets (the Hugging Face token, the sync session), kept in the OS keyring and never
in a plain file."""

from __future__ import annotations

import os
import re

from ..core.errors import ArcusError

SERVICE = "arcus-desktop"
KEY = "hf_token"


def _keyring():
    """The keyring module if it has a backend that really stores secrets, else None."""
    try:
        import keyring
        from keyring.backends import chainer, fail, null

        backend = keyring.get_keyring()
    except Exception:  # a broken keyring install must not stop the app
        return None
    # fail.Keyring raises on every call, null.Keyring silently forgets,
    # and a chainer with nothing inside behaves like fail.
    if isinstance(backend, (fail.Keyring, null.Keyring)):
        return None
    if isinstance(backend, chainer.ChainerBackend) and not backend.backends:
        return None
    return keyring


# keyring's backend modules -> the store's name as its users know it
_STORE_NAMES = {"SecretService": "Secret Service", "libsecret": "Secret Service (libsecret)",
                "kwallet": "KWallet", "Windows": "Windows Credential Manager",
                "macOS": "macOS Keychain"}
NO_STORE = ("none: there is no password store, so tokens cannot be saved. Install or unlock "
            "one (GNOME Keyring or KWallet on Linux).")


def describe_store() -> str:
    """The password store in use, by its name ("Secret Service", "KWallet"), or why
    there is none. Never raises."""
    keyring = _keyring()
    if keyring is None:
        return NO_STORE
    try:
        backend = keyring.get_keyring()
        inner = getattr(backend, "backends", None)  # a chainer: the stores it tries in turn
        backends = list(inner) if inner is not None else [backend]
        return ", then ".join(_store_name(b) for b in backends)
    except Exception as e:  # a broken backend is a finding to report, not a crash
        return f"unavailable ({type(e).__name__})"


def backend_class() -> str:
    """The keyring backend's class with its module (the smoke test names it). Raises
    ImportError without the keyring library."""
    import keyring

    backend = keyring.get_keyring()
    return f"{type(backend).__module__}.{type(backend).__name__}"


def _store_name(backend) -> str:
    module = type(backend).__module__.rsplit(".", 1)[-1]
    return _STORE_NAMES.get(module) or str(getattr(backend, "name", "") or type(backend).__name__)


def available() -> bool:
    """Whether there is a password store that can keep secrets (else nothing is saved)."""
    return _keyring() is not None


def get_secret(name: str) -> str | None:
    """A saved secret, or None (also when there is no usable keyring). Never raises."""
    keyring = _keyring()
    if keyring is None:
        return None
    try:
        return keyring.get_password(SERVICE, name)
    except Exception:  # locked or broken store (D-Bus down, user said no): as if unsaved
        return None


def set_secret(name: str, value: str, what: str, otherwise: str = "") -> None:
    """Save a secret. `what` names it in the error the user sees; `otherwise` is the
    way around a missing or locked store, if there is one."""
    keyring = _keyring()
    if keyring is None:
        raise ArcusError(f"There is no secure password store to keep {what} in.",
                         "Install or unlock one (GNOME Keyring or KWallet on Linux)"
                         + (f", or {otherwise}." if otherwise else "."))
    try:
        keyring.set_password(SERVICE, name, value)
    except Exception as exc:
        raise ArcusError(f"The password store refused to save {what}.",
                         "Unlock your keyring and try again"
                         + (f", or {otherwise}." if otherwise else ".")) from exc


def delete_secret(name: str, what: str) -> None:
    """Forget a secret; one that was never saved is not an error."""
    keyring = _keyring()
    if keyring is None:
        return
    from keyring.errors import PasswordDeleteError

    try:
        keyring.delete_password(SERVICE, name)
    except PasswordDeleteError:
        pass
    except Exception as exc:
        raise ArcusError(f"The password store refused to delete {what}.",
                         "Unlock your keyring and try again.") from exc


# Hugging Face user access tokens: "hf_" and 34 letters and digits today; a little room
# either side for older and future ones.
_HF_TOKEN = re.compile(r"^hf_[A-Za-z0-9]{30,60}$")


def hf_token_problem(token: str) -> str:
    """What keeps `token` from being a Hugging Face token, for the user; "" if it looks
    like one (only Hugging Face can say whether it works)."""
    token = token.strip()
    where = "Copy it again from huggingface.co/settings/tokens."
    if not token:
        return ""
    if not token.startswith("hf_"):
        return f"This is not a Hugging Face token: tokens start with “hf_”. {where}"
    if any(c.isspace() for c in token):
        return f"The token contains a space: it was copied with something else. {where}"
    if not re.fullmatch(r"hf_[A-Za-z0-9]*", token):
        return f"The token has characters a token never has (only letters and digits follow “hf_”). {where}"
    if not _HF_TOKEN.match(token):
        return (f"The token is {len(token)} characters long; Hugging Face tokens have about "
                f"37: part of it may be missing. {where}")
    return ""


def get_hf_token() -> str | None:
    """The saved token, else $HF_TOKEN, else None. Never raises."""
    return get_secret(KEY) or os.environ.get("HF_TOKEN", "").strip() or None


def set_hf_token(token: str) -> None:
    token = (token or "").strip()
    if not token:
        raise ArcusError("The Hugging Face token is empty.",
                         "Paste the token from https://huggingface.co/settings/tokens.")
    set_secret(KEY, token, "the Hugging Face token",
               otherwise="set the HF_TOKEN environment variable instead")


def delete_hf_token() -> None:
    delete_secret(KEY, "the Hugging Face token")
