"""Signing in to and out of the sync server for the settings, off the GUI thread
(supabase-py is imported there too, so the GUI never loads it). The session goes to
the keyring through `sync.account`; nothing here keeps it."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal

from ..core.errors import ArcusError
from . import tasks


@dataclass(frozen=True)
class AccountState:
    signed_in: bool
    who: str = ""  # the email signed in with
    note: str = ""  # what just happened, for the user


def _client(url: str, anon_key: str):
    from ..sync import account

    if not url.strip().startswith(("http://", "https://")) or not anon_key.strip():
        raise ArcusError("Enter the project's address and anon key first.")
    return account, account.connect(url.strip(), anon_key.strip())


class SyncAccount(QObject):
    """Each call answers with `state_changed(AccountState)` or `failed(text)`;
    `busy_changed` brackets it. One call at a time: a call while busy is ignored."""

    state_changed = Signal(object)
    failed = Signal(str)
    busy_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.busy = False
        self.state: AccountState | None = None

    def refresh(self, url: str, anon_key: str) -> bool:
        def job():
            account, client = _client(url, anon_key)
            who = account.signed_in_as(client)
            return AccountState(who is not None, who or "")
        return self._run(job, "checking the sync sign-in")

    def sign_in(self, url: str, anon_key: str, email: str, password: str) -> bool:
        def job():
            account, client = _client(url, anon_key)
            if not email.strip() or not password:
                raise ArcusError("Enter your email and password.")
            account.sign_in(client, email.strip(), password)
            return AccountState(True, email.strip(), "Signed in.")
        return self._run(job, "signing in to sync")

    def send_code(self, url: str, anon_key: str, email: str) -> bool:
        def job():
            account, client = _client(url, anon_key)
            if not email.strip():
                raise ArcusError("Enter your email first.")
            account.send_code(client, email.strip())
            return AccountState(False, "", f"A sign-in code is on its way to {email.strip()}.")
        return self._run(job, "sending a sign-in code")

    def sign_in_with_code(self, url: str, anon_key: str, email: str, code: str) -> bool:
        def job():
            account, client = _client(url, anon_key)
            if not email.strip() or not code.strip():
                raise ArcusError("Enter your email and the code from the message.")
            account.sign_in_with_code(client, email.strip(), code)
            return AccountState(True, email.strip(), "Signed in.")
        return self._run(job, "signing in to sync with a code")

    def sign_out(self, url: str, anon_key: str) -> bool:
        def job():
            account, client = _client(url, anon_key)
            account.sign_out(client)
            return AccountState(False, "", "Signed out. Your memories on this computer stay.")
        return self._run(job, "signing out of sync")

    def _run(self, job, what: str) -> bool:
        if self.busy:
            return False
        self._set_busy(True)
        tasks.run(job, self._done, self._failed, what)
        return True

    def _done(self, state: AccountState) -> None:
        self.state = state
        self._set_busy(False)
        self.state_changed.emit(state)

    def _failed(self, text: str) -> None:
        self._set_busy(False)
        self.failed.emit(text)

    def _set_busy(self, busy: bool) -> None:
        self.busy = busy
        self.busy_changed.emit(busy)
