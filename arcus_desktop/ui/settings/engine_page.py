"""Engine: how the model runs (on this GPU, smaller, or on the team's server), the team
server's address and token with a connection test, and the Hugging Face token."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QLineEdit, QPushButton, QToolButton

from ...bridge import tasks
from ...bridge.server_check import ServerCheck, check_server
from ...engine.modes import GIB, NEEDS
from ...settings.app_settings import ENGINE_MODES, AppSettings, Secrets
from .common import Message, Note, Page, row


def _needs(mode: str) -> str:
    return f"about {NEEDS[mode][0] / GIB:.1f} GiB of free GPU memory"


MODE_NOTES = {
    "auto": "When a conversation starts, Arcus looks at the free GPU memory and picks full "
            "precision, 8-bit or 4-bit weights, CPU offload (slow) on a very small GPU, or "
            "the team server when there is no suitable GPU.",
    "bf16": f"The best quality. Needs {_needs('bf16')} (an NVIDIA GPU).",
    "int8": f"Nearly the same sound in less memory: needs {_needs('int8')}.",
    "int4": f"Needs {_needs('int4')}. Remembers only the last two minutes of a conversation "
            "and may fall behind real time: a team server sounds better.",
    "offload": "Keeps most of the model in main memory and moves it to the GPU as needed. "
               "Works with a small GPU, but far slower than real time.",
    "server": "The model runs on your team's server; this computer only sends and plays "
              "the audio. Needs the server's address below.",
}


def secret_field(placeholder: str) -> tuple[QLineEdit, QToolButton]:
    edit = QLineEdit()
    edit.setEchoMode(QLineEdit.EchoMode.Password)
    edit.setPlaceholderText(placeholder)
    edit.setClearButtonEnabled(True)
    show = QToolButton()
    show.setText("Show")
    show.setCheckable(True)
    show.setAccessibleName("Show the token")
    show.toggled.connect(lambda on: (edit.setEchoMode(QLineEdit.EchoMode.Normal if on else
                                                      QLineEdit.EchoMode.Password),
                                     show.setText("Hide" if on else "Show")))
    return edit, show


class EnginePage(Page):
    title = "Engine"
    tested = Signal(object)  # ServerCheck, after "Test connection"
    setup_requested = Signal()  # "Run setup again…": the app opens the first-run wizard

    def __init__(self, current, keyring_available: bool = True, parent=None) -> None:
        super().__init__(current, parent)
        self.mode = QComboBox()
        for key, label in ENGINE_MODES.items():
            self.mode.addItem(label, key)
        self.mode_note = Note()
        self.mode.currentIndexChanged.connect(self._mode_changed)
        self.add_field("engine/mode", "&Run the model:", self.mode, extra=(self.mode_note,))

        self.server_url = QLineEdit()
        self.server_url.setPlaceholderText("https://gpu-box:8998")
        self.server_url.setClearButtonEnabled(True)
        self.add_field("engine/server_url", "&Team server:", self.server_url)
        self.server_token, show = secret_field("Token from the server's owner, if it needs one")
        self.test = QPushButton("Test &connection")
        self.test.clicked.connect(self.test_connection)
        self.test_result = Message()
        self.test_result.setAccessibleName("Connection test result")
        self.add_field("secrets/server_token", "Ser&ver token:",
                       row(self.server_token, show, stretch=False), focus=self.server_token,
                       extra=(row(self.test), self.test_result))

        self.hf_token, show_hf = secret_field("hf_…")
        self.keyring_note = Note("Tokens are kept in the system's password store, never in "
                                 "a settings file.")
        self.add_field("secrets/hf_token", "&Hugging Face token:",
                       row(self.hf_token, show_hf, stretch=False),
                       note="Needed once, to download the model: accept its licence at "
                            "huggingface.co/nvidia/personaplex-7b-v1 and create a read token.",
                       focus=self.hf_token)
        self.add_field(None, "", self.keyring_note)
        self.setup_button = QPushButton("Run &setup again…")
        self.setup_button.setToolTip("Check the GPU, download the model or choose a team "
                                     "server step by step. Closes Settings without applying.")
        self.setup_button.clicked.connect(self.setup_requested)
        self.add_field(None, "", row(self.setup_button))
        if not keyring_available:
            self.keyring_note.setText("There is no password store on this system (such as "
                                      "GNOME Keyring or KWallet), so tokens cannot be saved. "
                                      "Install or unlock one to keep them.")
            for w in (self.server_token, self.hf_token, show, show_hf):
                w.setEnabled(False)
        self.task = None

    def load(self, s: AppSettings, secrets: Secrets) -> None:
        self.mode.setCurrentIndex(max(0, self.mode.findData(s.engine.mode)))
        self._mode_changed()
        self.server_url.setText(s.engine.server_url)
        self.server_token.setText(secrets.server_token)
        self.hf_token.setText(secrets.hf_token)

    def store(self, s: AppSettings, secrets: Secrets) -> None:
        s.engine.mode = self.mode.currentData()
        s.engine.server_url = self.server_url.text().strip()
        if self.server_token.isEnabled():
            secrets.server_token = self.server_token.text().strip()
            secrets.hf_token = self.hf_token.text().strip()

    def _mode_changed(self, *_args) -> None:
        self.mode_note.setText(MODE_NOTES[self.mode.currentData()])

    # --- connection test ----------------------------------------------------------------

    def test_connection(self) -> None:
        """GET <address>/healthz on a worker thread; the answer shows under the button."""
        url, token = self.server_url.text().strip(), self.server_token.text()
        self.test.setEnabled(False)
        self.test_result.show_text(f"Asking {url or 'the server'}…", "info")
        self.task = tasks.run(lambda: check_server(url, token), self._tested, self._test_failed,
                              "testing the team server")

    def _tested(self, result: ServerCheck) -> None:
        self.test.setEnabled(True)
        self.test_result.show_text(result.text, "ok" if result.ok else "error")
        self.tested.emit(result)

    def _test_failed(self, text: str) -> None:
        self._tested(ServerCheck(False, text))
