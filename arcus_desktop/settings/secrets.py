"""Secrets (the Hugging Face token, the sync session), kept in the OS keyring and never
in a plain file."""

from __future__ import annotations

import os

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


def get_hf_token() -> str | None:
    """The saved token, else $HF_TOKEN, else None. Never raises."""
    keyring = _keyring()
    if keyring is not None:
        try:
            token = keyring.get_password(SERVICE, KEY)
        except Exception:  # locked or broken store (D-Bus down, user said no): fall back
            token = None
        if token:
            return token
    return os.environ.get("HF_TOKEN", "").strip() or None


def set_hf_token(token: str) -> None:
    token = (token or "").strip()
    if not token:
        raise ArcusError("The Hugging Face token is empty.",
                         "Paste the token from https://huggingface.co/settings/tokens.")
    keyring = _keyring()
    if keyring is None:
        raise ArcusError(
            "There is no secure password store to keep the Hugging Face token in.",
            "Install or unlock one (GNOME Keyring or KWallet on Linux), or set the "
            "HF_TOKEN environment variable instead.",
        )
    try:
        keyring.set_password(SERVICE, KEY, token)
    except Exception as exc:
        raise ArcusError(
            "The password store refused to save the Hugging Face token.",
            "Unlock your keyring and try again, or set the HF_TOKEN environment variable instead.",
        ) from exc


def delete_hf_token() -> None:
    """Forget the saved token; a token that was never saved is not an error."""
    keyring = _keyring()
    if keyring is None:
        return
    from keyring.errors import PasswordDeleteError

    try:
        keyring.delete_password(SERVICE, KEY)
    except PasswordDeleteError:
        pass
    except Exception as exc:
        raise ArcusError(
            "The password store refused to delete the Hugging Face token.",
            "Unlock your keyring and try again.",
        ) from exc


def get_secret(name: str) -> str | None:
    """A saved secret, or None (also when there is no usable keyring). Never raises."""
    keyring = _keyring()
    if keyring is None:
        return None
    try:
        return keyring.get_password(SERVICE, name)
    except Exception:  # locked or broken store: as if nothing was saved
        return None


def set_secret(name: str, value: str, what: str) -> None:
    """Save a secret; `what` names it in the error the user sees."""
    keyring = _keyring()
    if keyring is None:
        raise ArcusError(f"There is no secure password store to keep {what} in.",
                         "Install or unlock one (GNOME Keyring or KWallet on Linux).")
    try:
        keyring.set_password(SERVICE, name, value)
    except Exception as exc:
        raise ArcusError(f"The password store refused to save {what}.",
                         "Unlock your keyring and try again.") from exc


def delete_secret(name: str) -> None:
    keyring = _keyring()
    if keyring is None:
        return
    from keyring.errors import PasswordDeleteError

    try:
        keyring.delete_password(SERVICE, name)
    except PasswordDeleteError:
        pass
    except Exception:  # a locked store keeps it; signing out must still work
        pass
