"""Step 2 for a laptop without a suitable GPU: the team server's address and token
(keyring only), with "Test connection" (bridge/server_check.py, off the GUI thread)."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QLineEdit, QPushButton, QVBoxLayout, QWizardPage

from ...bridge import tasks
from ...bridge.server_check import ServerCheck, check_server
from ...core.errors import ArcusError
from ...settings import secrets
from ...settings.app_settings import SECRET_NAMES, server_url_ok
from ..settings.common import Message, Note, row
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
        self.token, show = secret_field("Token from the server's owner, if it needs one")
        self.token.setAccessibleName("Team server token")
        self.token.textChanged.connect(self._edited)
        self.test = QPushButton("Test &connection")
        self.test.clicked.connect(self.test_connection)
        self.result = Message()
        self.result.setAccessibleName("Connection test result")
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
        layout.addWidget(self.message)
        layout.addStretch(1)
        self.task = None

    def initializePage(self) -> None:  # noqa: N802 (Qt's name)
        if not self.url.text():
            self.url.setText(self.wizard().service.settings.engine.server_url)
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

    def _edited(self) -> None:
        self.result.clear()
        self.wizard().choices.server_check = None
        self.completeChanged.emit()

    def test_connection(self) -> None:
        url, token = self.url.text().strip(), self.token.text()
        self.test.setEnabled(False)
        self.result.show_text(f"Asking {url or 'the server'}…", "info")
        self.task = tasks.run(lambda: check_server(url, token), self._tested,
                              lambda text: self._tested(ServerCheck(False, text)),
                              "testing the team server")

    def _tested(self, check: ServerCheck) -> None:
        self.test.setEnabled(True)
        self.result.show_text(check.text, "ok" if check.ok else "error")
        self.wizard().choices.server_check = check
        self.tested.emit(check)

    def validatePage(self) -> bool:  # noqa: N802 (Qt's name)
        self.wizard().choices.server_url = self.url.text().strip()
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
