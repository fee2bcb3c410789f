"""Sync: the team's Supabase project, and signing in to it (off the GUI thread, through
bridge.sync_account). The session goes to the password store, never to a file."""

from __future__ import annotations

from PySide6.QtWidgets import QCheckBox, QGroupBox, QLabel, QLineEdit, QPushButton, QVBoxLayout

from ...bridge.sync_account import AccountState, SyncAccount
from ...bridge.settings_store import AppSettings, Secrets
from .common import Message, Note, Page, row
from ..indicators import visible


class SyncPage(Page):
    title = "Sync"

    def __init__(self, current, account: SyncAccount, parent=None) -> None:
        super().__init__(current, parent)
        self.account = account
        self.enabled = visible(QCheckBox("S&ync memories with my team"))
        self.add_field("sync/enabled", "", self.enabled,
                       note="Memories are copied to your team's Supabase project and back, so "
                            "they follow you to other computers. Without it, they never leave "
                            "this one.")
        self.url = QLineEdit()
        self.url.setPlaceholderText("https://abcd.supabase.co")
        self.url.setClearButtonEnabled(True)
        self.add_field("sync/url", "Project &address:", self.url)
        self.anon_key = QLineEdit()
        self.anon_key.setPlaceholderText("The project's anon (public) key")
        self.add_field("sync/anon_key", "Anon &key:", self.anon_key,
                       note="Public by design: your own access comes from signing in below.")
        self.team_recall = visible(QCheckBox("Use memories my team &shares"))
        self.add_field(None, "", self.team_recall)

        box = QGroupBox("Account")
        inner = QVBoxLayout(box)
        self.state = QLabel("Not checked yet.")
        self.state.setWordWrap(True)
        self.state.setAccessibleName("Sign-in state")
        inner.addWidget(self.state)
        form = self.new_form()
        inner.addLayout(form)
        self.email = QLineEdit()
        self.email.setPlaceholderText("you@example.com")
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.sign_in_button = QPushButton("Sign &in")
        self.send_code_button = QPushButton("Email me a c&ode")
        self.code = QLineEdit()
        self.code.setPlaceholderText("123456")
        self.code_button = QPushButton("Sign in &with the code")
        self.sign_out_button = QPushButton("Sign o&ut")
        self.add_field(None, "E&mail:", self.email, form=form)
        self.add_field(None, "&Password:", self.password, form=form)
        self.add_field(None, "", row(self.sign_in_button, self.send_code_button), form=form)
        self.add_field(None, "Co&de:", row(self.code, self.code_button, stretch=False),
                       form=form, focus=self.code)
        self.add_field(None, "", row(self.sign_out_button), form=form)
        self.account_message = Message()
        self.account_message.setAccessibleName("Account message")
        inner.addWidget(self.account_message)
        inner.addWidget(Note("Signing in or out takes effect at once; the project settings "
                             "above when you press OK or Apply."))
        self.body.insertWidget(self.body.count() - 1, box)  # above the closing stretch

        # What the account widgets do not edit: they act. Not part of `edited`.
        self.sign_in_button.clicked.connect(self._sign_in)
        self.password.returnPressed.connect(self._sign_in)
        self.send_code_button.clicked.connect(self._send_code)
        self.code_button.clicked.connect(self._sign_in_with_code)
        self.code.returnPressed.connect(self._sign_in_with_code)
        self.sign_out_button.clicked.connect(self._sign_out)
        account.state_changed.connect(self._show_state)
        account.failed.connect(lambda text: self.account_message.show_text(text, "error"))
        account.busy_changed.connect(self._busy)
        self._checked_for: tuple[str, str] | None = None
        self._show_state(account.state)

    # --- page ---------------------------------------------------------------------------

    def load(self, s: AppSettings, secrets: Secrets) -> None:
        self.enabled.setChecked(s.sync.enabled)
        self.url.setText(s.sync.url)
        self.anon_key.setText(s.sync.anon_key)
        self.team_recall.setChecked(s.sync.team_recall)

    def store(self, s: AppSettings, secrets: Secrets) -> None:
        s.sync.enabled = self.enabled.isChecked()
        s.sync.url = self.url.text().strip()
        s.sync.anon_key = self.anon_key.text().strip()
        s.sync.team_recall = self.team_recall.isChecked()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        self.check_account()

    def check_account(self) -> None:
        """Ask the server who is signed in, once per project (when the page shows)."""
        project = self._project()
        if all(project) and project != self._checked_for and not self.account.busy:
            self._checked_for = project
            self.state.setText("Checking the sign-in…")
            self.account.refresh(*project)

    # --- account ------------------------------------------------------------------------

    def _project(self) -> tuple[str, str]:
        return self.url.text().strip(), self.anon_key.text().strip()

    def _sign_in(self) -> None:
        self.account_message.clear()
        self.account.sign_in(*self._project(), self.email.text(), self.password.text())

    def _send_code(self) -> None:
        self.account_message.clear()
        self.account.send_code(*self._project(), self.email.text())

    def _sign_in_with_code(self) -> None:
        self.account_message.clear()
        self.account.sign_in_with_code(*self._project(), self.email.text(), self.code.text())

    def _sign_out(self) -> None:
        self.account_message.clear()
        self.account.sign_out(*self._project())

    def _show_state(self, state: AccountState | None) -> None:
        if state is None:
            self.state.setText("Fill in the project, then sign in." if not all(self._project())
                               else "Not checked yet.")
            signed_in = False
        else:
            signed_in = state.signed_in
            self.state.setText(f"Signed in as {state.who}." if signed_in else "Not signed in.")
            if state.note:
                self.account_message.show_text(state.note, "ok")
            if signed_in:
                self.password.clear()
                self.code.clear()
        self._signed_in = signed_in
        self._busy(self.account.busy)

    def _busy(self, busy: bool) -> None:
        signed_in = getattr(self, "_signed_in", False)
        for w in (self.email, self.password, self.sign_in_button, self.send_code_button,
                  self.code, self.code_button):
            w.setEnabled(not busy and not signed_in)
        self.sign_out_button.setEnabled(not busy and signed_in)
        if busy:
            self.account_message.show_text("Talking to the sync server…", "info")
        elif self.account_message.kind == "info":
            self.account_message.clear()
