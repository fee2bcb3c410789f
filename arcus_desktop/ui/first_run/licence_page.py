"""Step 2, licence and token: PersonaPlex is gated on Hugging Face, so the user accepts
NVIDIA's licence on the model page and gives Arcus a read token. The token goes to the
OS keyring only; without one it is used for this download and forgotten."""

from __future__ import annotations

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QCheckBox, QLabel, QPushButton, QVBoxLayout, QWizardPage

from ...core.errors import MODEL_PAGE, ArcusError
from ...bridge.model_download import TOKEN_PAGE
from ...bridge.settings_store import secret_store as secrets
from ..settings.common import Message, Note, row
from ..settings.engine_page import secret_field
from ..indicators import visible


def open_link(url: str) -> bool:
    """False when no browser could be opened (the page then shows the address)."""
    return QDesktopServices.openUrl(QUrl(url))


def address_line(url: str) -> Note:
    """An address to copy by hand where no browser opens: selectable, keyboard too."""
    line = Note(url)
    line.setTextFormat(Qt.TextFormat.PlainText)
    line.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse
                                 | Qt.TextInteractionFlag.TextSelectableByKeyboard)
    line.setAccessibleName("Address")
    line.setToolTip("Select the address and copy it (Ctrl+C) into a web browser")
    return line


def _step(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    return label


class LicencePage(QWizardPage):
    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Licence and token")
        self.setSubTitle("PersonaPlex-7B is NVIDIA's model, shared on Hugging Face under "
                         "its own licence. Downloading it takes a free Hugging Face account.")
        self.model_page = QPushButton("Open the &model page")
        self.model_page.setToolTip(MODEL_PAGE)
        self.model_page.clicked.connect(lambda: self._open(MODEL_PAGE))
        self.model_address = address_line(MODEL_PAGE)
        self.accepted_box = visible(QCheckBox("I have &accepted the licence on the model page"))
        self.accepted_box.toggled.connect(self.completeChanged)
        self.token_page = QPushButton("&Get a token")
        self.token_page.setToolTip(TOKEN_PAGE)
        self.token_page.clicked.connect(lambda: self._open(TOKEN_PAGE))
        self.token_address = address_line(TOKEN_PAGE)
        self.token, show = secret_field("hf_…")
        self.token.setAccessibleName("Hugging Face token")
        self.token.textChanged.connect(self.completeChanged)
        self.keyring_note = Note()
        self.message = Message()  # the keyring refused the token, or it is malformed
        self.browser_message = Message()  # no browser could be opened

        layout = QVBoxLayout(self)
        layout.addWidget(_step("<b>1.</b> Open the model page, sign in (or create an account) "
                               "and accept the licence there."))
        layout.addWidget(row(self.model_page, self.model_address))
        layout.addWidget(self.accepted_box)
        layout.addSpacing(8)
        layout.addWidget(_step("<b>2.</b> Create an access token of the <i>Read</i> kind on "
                               "Hugging Face and paste it here."))
        layout.addWidget(row(self.token_page, self.token_address))
        layout.addWidget(self.browser_message)
        label = QLabel("Hugging Face &token:")
        label.setBuddy(self.token)
        layout.addWidget(label)
        layout.addWidget(row(self.token, show, stretch=False))
        layout.addWidget(self.keyring_note)
        layout.addWidget(self.message)
        layout.addStretch(1)

    def initializePage(self) -> None:  # noqa: N802 (Qt's name)
        self.message.clear()
        if secrets.available():
            self.keyring_note.setText("The token is kept in this system's password store, "
                                      "never in a settings file.")
        else:
            self.keyring_note.setText("This system has no password store (such as GNOME "
                                      "Keyring or KWallet): the token is used for this "
                                      "download only, and not saved.")
        if not self.token.text():
            self.token.setText(secrets.get_secret(secrets.KEY) or "")

    def _open(self, url: str) -> None:
        if open_link(url):
            self.browser_message.clear()
        else:
            self.browser_message.show_text(
                "No web browser could be opened here. Copy the address next to the button "
                "into a browser, on this computer or another one.", "info")

    def isComplete(self) -> bool:  # noqa: N802 (Qt's name)
        return self.accepted_box.isChecked() and bool(self.token.text().strip())

    def validatePage(self) -> bool:  # noqa: N802 (Qt's name)
        token = self.token.text().strip()
        problem = secrets.hf_token_problem(token)
        if problem:  # nothing is kept or sent before it looks like a token
            self.message.show_text(problem, "error")
            self.token.setFocus()
            return False
        self.message.clear()
        self.wizard().choices.hf_token = token
        if not secrets.available():
            return True
        try:
            secrets.set_hf_token(token)
        except ArcusError as e:
            self.message.show_text(e.user_text(), "error")
            return False
        return True
