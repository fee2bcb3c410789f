"""Signing in to the team's Supabase project. supabase-py keeps the session (and
refreshes it); this gives it the OS keyring as its storage, so a session survives
restarts and never lands in a plain file."""

from __future__ import annotations

import httpx
from supabase import Client, ClientOptions, create_client
from supabase_auth._sync.storage import SyncSupportedStorage
from supabase_auth.errors import AuthApiError, AuthError, AuthRetryableError

from ..core.addresses import cleartext_problem
from ..core.errors import ArcusError, NetworkError
from ..settings import secrets

TIMEOUT = httpx.Timeout(15.0)  # a number would be rounded down to whole seconds


class SyncSignInError(ArcusError):
    pass


class KeyringStorage(SyncSupportedStorage):
    def __init__(self, url: str) -> None:
        self.prefix = f"supabase:{url.rstrip('/')}:"

    def get_item(self, key: str) -> str | None:
        return secrets.get_secret(self.prefix + key)

    def set_item(self, key: str, value: str) -> None:
        secrets.set_secret(self.prefix + key, value, "the sync sign-in")

    def remove_item(self, key: str) -> None:
        secrets.delete_secret(self.prefix + key, "the sync sign-in")


def connect(url: str, anon_key: str) -> Client:
    """A client for the project; signed in already if a saved session is still valid.
    An unencrypted address beyond loopback is refused: passwords and tokens go there."""
    problem = cleartext_problem(url, "sync server")
    if problem:
        raise ArcusError(*problem)
    return create_client(url, anon_key, ClientOptions(
        storage=KeyringStorage(url), persist_session=True, auto_refresh_token=True,
        postgrest_client_timeout=TIMEOUT))


def _call(fn):
    try:
        return fn()
    except (httpx.ConnectError, httpx.TimeoutException, AuthRetryableError) as e:
        raise NetworkError("The sync server cannot be reached.",
                           "Check the server address and your connection.") from e
    except AuthApiError as e:
        if e.status in (400, 401, 403, 422):
            raise SyncSignInError("The email, password or code was not accepted.",
                                  "Check them, or ask for a new code.") from e
        raise NetworkError(f"The sync server refused the sign-in ({e.status}).",
                           "Try again in a while.") from e
    except AuthError as e:
        raise SyncSignInError(f"Signing in failed: {e}.", "Try again.") from e


def sign_in(client: Client, email: str, password: str) -> str:
    """Sign in with email and password; the user's id."""
    return _call(lambda: client.auth.sign_in_with_password(
        {"email": email, "password": password})).user.id


def send_code(client: Client, email: str) -> None:
    """Email a one-time sign-in code (and magic link) to an existing user."""
    _call(lambda: client.auth.sign_in_with_otp(
        {"email": email, "options": {"should_create_user": False}}))


def sign_in_with_code(client: Client, email: str, code: str) -> str:
    return _call(lambda: client.auth.verify_otp(
        {"email": email, "token": code.strip(), "type": "email"})).user.id


def signed_in_user(client: Client) -> str | None:
    """The user of the saved session (refreshed if it expired), or None."""
    try:
        session = _call(client.auth.get_session)
    except SyncSignInError:
        return None
    return session.user.id if session else None


def signed_in_as(client: Client) -> str | None:
    """The email of the saved session's user (its id when it has none), or None."""
    try:
        session = _call(client.auth.get_session)
    except SyncSignInError:
        return None
    return (session.user.email or session.user.id) if session else None


def sign_out(client: Client) -> None:
    """Forget the session here and on the server. Local memories stay as they are."""
    try:
        client.auth.sign_out({"scope": "local"})  # drops the saved session first
    except Exception:  # offline: the server forgets it when it expires
        pass
