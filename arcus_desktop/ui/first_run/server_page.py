"""Step 2 for a laptop without a suitable GPU: the team server's address and token
(keyring only), with "Test connection" (bridge/server_check.py, off the GUI thread),
which offers to trust a self-signed certificate by its fingerprint."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QLineEdit, QToolButton, QVBoxLayout, QWizardPage

from ...bridge.server_check import ServerCheck
from ...core.addresses import address_problem
from ...core.errors import ArcusError
from ...bridge.settings_store import SECRET_NAMES, same_server, server_url_ok
from ...bridge.settings_store import secret_store as secrets
from ..settings.common import Message, Note, row
from ..settings.connection_test import ConnectionTest
from ..settings.engine_page import secret_field
from .wizard import DONE

TOKEN = "server_token"  # its keyring name, as the settings dialog saves it


class ServerPage(QWizardPage):
    tested = Signal(object)  # ServerCheck

    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Team server")
        self.setSubTitle("The model runs on a computer with a big GPU that your team shares; "
                         "this one only sends your voice and plays the answer.")
        self.url = QLineEdit()
        self.url.setPlaceholderText("https://gpu-box:8998")
        self.url.setClearButtonEnabled(True)
        self.url.setAccessibleName("Team server address")
        self.url.textChanged.connect(self._edited)
        self.url.editingFinished.connect(self._address_done)
        self.token, show = secret_field("Token from the server's owner, if it needs one")
        self.token.setAccessibleName("Team server token")
        self.token.textChanged.connect(self._edited)
        self.connection = ConnectionTest(self, lambda: self.url.text().strip(), self.token.text,
                                         lambda: self.fingerprint, self._pin)
        self.connection.started.connect(lambda: self._show_details(""))
        self.connection.tested.connect(self._tested)
        self.test, self.result = self.connection.test, self.connection.result
        self.trust_button, self.trust_row = (self.connection.trust_button,
                                             self.connection.trust_row)
        # The library's own words behind "Details", for whoever runs the server.
        self.details_button = QToolButton()
        self.details_button.setText("Details")
        self.details_button.setCheckable(True)
        self.details_button.setAccessibleName("Show the technical details")
        self.details = Note()
        self.details.setAccessibleName("Technical details")
        self.details_button.toggled.connect(self.details.setVisible)
        self.details_row = row(self.details_button)
        self._show_details("")
        self.pin_note = Note()  # the trusted certificate, when there is one
        self.pin_note.hide()
        self.fingerprint, self._pinned_for = "", ""
        self.message = Message()  # the keyring refused the token
        url_label = QLabel("Server &address:")
        url_label.setBuddy(self.url)
        token_label = QLabel("Server &token:")
        token_label.setBuddy(self.token)
        layout = QVBoxLayout(self)
        layout.addWidget(url_label)
        layout.addWidget(self.url)
        layout.addWidget(Note("Ask whoever runs the server for its address and, if it "
                              "needs one, a token."))
        layout.addSpacing(6)
        layout.addWidget(token_label)
        layout.addWidget(row(self.token, show, stretch=False))
        self.keyring_note = Note()
        layout.addWidget(self.keyring_note)
        layout.addWidget(row(self.test))
        layout.addWidget(self.result)
        layout.addWidget(self.details_row)
        layout.addWidget(self.details)
        layout.addWidget(self.trust_row)
        layout.addWidget(self.pin_note)
        layout.addWidget(self.message)
        layout.addStretch(1)

    @property
    def trust_box(self):
        """The open "Trust this certificate?" question, if any."""
        return self.connection.trust_box

    def initializePage(self) -> None:  # noqa: N802 (Qt's name)
        if not self.url.text():
            engine = self.wizard().service.settings.engine
            self.url.setText(engine.server_url)
            self._pin(engine.server_url, engine.server_fingerprint)
        if not self.token.text():
            self.token.setText(secrets.get_secret(TOKEN) or "")
        ok = secrets.available()
        self.keyring_note.setText(
            "The token is kept in this system's password store, never in a settings file."
            if ok else "This system has no password store (such as GNOME Keyring or "
                       "KWallet), so a token cannot be kept: install or unlock one.")
        self.token.setEnabled(ok)

    def isComplete(self) -> bool:  # noqa: N802 (Qt's name)
        return server_url_ok(self.url.text())

    def nextId(self) -> int:  # noqa: N802 (Qt's name)
        return DONE

    def _address_done(self) -> None:
        """Say what is wrong with a typed address (Next stays off) as soon as it is typed."""
        problem = address_problem(self.url.text()) if self.url.text().strip() else ""
        if problem:
            self.result.show_text(problem, "error")

    def _show_details(self, detail: str) -> None:
        self.details.setText(f"The secure connection library says: {detail}" if detail else "")
        self.details_button.setChecked(False)
        self.details_row.setVisible(bool(detail))
        self.details.hide()

    def _edited(self) -> None:
        self.result.clear()
        self._show_details("")
        self.connection.forget()
        if self.fingerprint and not same_server(self.url.text(), self._pinned_for):
            self._pin("", "")  # a pinned certificate belongs to its server
        self.wizard().choices.server_check = None
        self.completeChanged.emit()

    def test_connection(self) -> None:
        self.connection.run()

    def _tested(self, check: ServerCheck) -> None:
        self._show_details(check.detail)
        self.wizard().choices.server_check = check
        self.tested.emit(check)

    def _pin(self, url: str, fingerprint: str) -> None:
        self.fingerprint, self._pinned_for = fingerprint, url
        self.pin_note.setText(f"Trusted certificate: SHA-256 {fingerprint}")
        self.pin_note.setVisible(bool(fingerprint))

    def validatePage(self) -> bool:  # noqa: N802 (Qt's name)
        self.wizard().choices.server_url = self.url.text().strip()
        self.wizard().choices.server_fingerprint = self.fingerprint
        if not self.token.isEnabled():
            return True
        token = self.token.text().strip()
        try:
            if token:
                secrets.set_secret(TOKEN, token, SECRET_NAMES[TOKEN])
            else:
                secrets.delete_secret(TOKEN, SECRET_NAMES[TOKEN])
        except ArcusError as e:
            self.message.show_text(e.user_text(), "error")
            return False
        return True
