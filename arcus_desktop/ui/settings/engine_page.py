"""Engine: how the model runs (on this GPU, smaller, or on the team's server), the team
server's address, certificate fingerprint and token with a connection test (which offers
to trust a self-signed certificate), and the Hugging Face token."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QComboBox, QFileDialog, QLineEdit, QPushButton, QToolButton

from ...bridge import tasks
from ...bridge.model_folder import FolderCheck, check_folder
from ...bridge.server_check import ServerCheck
from ...core import flavour, modes
from ...core.certs import normalize
from ...bridge.gpu_probe import GIB, NEEDS
from ...bridge.settings_store import AppSettings, Problem, Secrets, same_server
from .common import Message, Note, Page, row
from .connection_test import ConnectionTest
from .speech_row import SpeechToTextRow


CHECK_DELAY_MS = 300


def _path(folder: str) -> Path:
    return Path(folder).expanduser()


def _needs(mode: str) -> str:
    return f"about {NEEDS[mode][0] / GIB:.1f} GiB of free GPU memory"


MODE_NOTES = {key: m.note.format(need=_needs(key) if key in NEEDS else "")
              for key, m in modes.SETTINGS.items()}


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
    model_checked = Signal()  # the model folder's check has an answer: show its problems

    def __init__(self, current, keyring_available: bool = True, hub_endpoint: str | None = None,
                 parent=None) -> None:
        super().__init__(current, parent)
        self.mode = QComboBox()
        for key, mode in modes.SETTINGS.items():
            if key == modes.SERVER or not flavour.is_client():  # the client has no local model
                self.mode.addItem(mode.label, key)
        self.mode_note = Note()
        self.mode.currentIndexChanged.connect(self._mode_changed)
        self.add_field("engine/mode", "&Run the model:", self.mode, extra=(self.mode_note,))

        self.model_dir = QLineEdit()
        self.model_dir.setPlaceholderText("Empty: the model that setup downloaded")
        self.model_dir.setClearButtonEnabled(True)
        self.model_dir.setAccessibleName("Model folder")
        self.browse = QPushButton("&Browse…")
        self.browse.clicked.connect(self.browse_model_dir)
        self.check_button = QPushButton("Chec&k files")
        self.check_button.setToolTip("Check every file against the checksum recorded when it "
                                     "was downloaded (a minute or two for the full model)")
        self.check_button.clicked.connect(lambda: self.check_model_dir(verify=True))
        self.model_result = Message()
        self.model_result.setAccessibleName("Model folder check")
        self.add_field("engine/model_dir", "&Model folder:",
                       row(self.model_dir, self.browse, self.check_button, stretch=False),
                       focus=self.model_dir, extra=(self.model_result,),
                       note="A folder that holds PersonaPlex-7B's files, e.g. one made with "
                            "“arcus-desktop download --model-dir”, or copied from another "
                            "computer.")
        self._check_soon = QTimer(self)  # typing: look once the typing pauses
        self._check_soon.setSingleShot(True)
        self._check_soon.setInterval(CHECK_DELAY_MS)
        self._check_soon.timeout.connect(lambda: self.check_model_dir())
        self.model_dir.textChanged.connect(lambda _t: self._check_soon.start())
        self.folder_check: FolderCheck | None = None  # the last check of the field's folder
        self.check_task = None

        self.speech = SpeechToTextRow(hub_endpoint)
        if not flavour.is_client():  # the client always talks to a server, and uses its own
            self.add_field(None, "&Speech-to-text:", self.speech, focus=self.speech.button,
                           note="A smaller model that writes down your own words, on this "
                                "computer. With a team server, the server's own is used.")
        else:
            self.speech.setParent(self)
            self.speech.hide()

        self.server_url = QLineEdit()
        self.server_url.setPlaceholderText("https://gpu-box:8998")
        self.server_url.setClearButtonEnabled(True)
        self.add_field("engine/server_url", "&Team server:", self.server_url)
        self.fingerprint = QLineEdit()
        self.fingerprint.setPlaceholderText("Only for a self-signed certificate: AB:CD:…")
        self.fingerprint.setClearButtonEnabled(True)
        self.add_field("engine/server_fingerprint", "Certificate &fingerprint:",
                       self.fingerprint,
                       note="The SHA-256 fingerprint the server's owner gave you (“serve "
                            "--make-cert” prints it). Arcus then accepts exactly that "
                            "certificate from this server. Leave it empty for a certificate "
                            "from a trusted authority.")
        self.server_token, show = secret_field("Token from the server's owner, if it needs one")
        self.connection = ConnectionTest(self, lambda: self.server_url.text().strip(),
                                         self.server_token.text,
                                         lambda: self.fingerprint.text().strip(), self._trust)
        self.connection.tested.connect(self._tested)
        self.test, self.test_result = self.connection.test, self.connection.result
        self.trust_button, self.trust_row = (self.connection.trust_button,
                                             self.connection.trust_row)
        self.add_field("secrets/server_token", "Ser&ver token:",
                       row(self.server_token, show, stretch=False), focus=self.server_token,
                       extra=(row(self.test), self.test_result, self.trust_row))
        self.server_url.textChanged.connect(self._address_edited)
        self.fingerprint.textChanged.connect(self._fingerprint_edited)
        self._pinned_for = ""  # the address the fingerprint was given for

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

    @property
    def trust_box(self):
        """The open "Trust this certificate?" question, if any."""
        return self.connection.trust_box

    def load(self, s: AppSettings, secrets: Secrets) -> None:
        self.mode.setCurrentIndex(max(0, self.mode.findData(s.engine.mode)))
        self._mode_changed()
        self.model_dir.setText(s.engine.model_dir)
        self.server_url.setText(s.engine.server_url)
        self.fingerprint.setText(s.engine.server_fingerprint)
        self._pinned_for = s.engine.server_url
        self.server_token.setText(secrets.server_token)
        self.hf_token.setText(secrets.hf_token)

    def store(self, s: AppSettings, secrets: Secrets) -> None:
        s.engine.mode = self.mode.currentData()
        s.engine.model_dir = self.model_dir.text().strip()
        s.engine.server_url = self.server_url.text().strip()
        pin = self.fingerprint.text().strip()
        s.engine.server_fingerprint = normalize(pin) or pin  # as typed when wrong: checked
        if self.server_token.isEnabled():
            secrets.server_token = self.server_token.text().strip()
            secrets.hf_token = self.hf_token.text().strip()

    def problems(self) -> list[Problem]:
        folder = self.model_dir.text().strip()
        c = self.folder_check
        if (folder and c is not None and not c.ok and c.folder == _path(folder)
                and self.mode.currentData() != modes.SERVER):
            return [Problem("engine/model_dir", c.text())]
        return []

    def show_speech_to_text(self) -> None:
        """Scrolled to the speech-to-text row, its button focused (a notice sent the user)."""
        self.speech.refresh()
        self.scroll.ensureWidgetVisible(self.speech)
        target = self.speech.button if self.speech.button.isVisible() else self.speech.status
        target.setFocus(Qt.FocusReason.OtherFocusReason)

    # --- the model folder ---------------------------------------------------------------

    def browse_model_dir(self) -> None:
        start = self.model_dir.text().strip() or str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Choose the folder that holds "
                                                  "PersonaPlex-7B", start)
        if folder:
            self.model_dir.setText(folder)

    def check_model_dir(self, verify: bool = False) -> None:
        """Check the folder in the field off the GUI thread: its layout and files' structure,
        and with `verify` their recorded checksums. The answer shows under the field."""
        self._check_soon.stop()
        folder = self.model_dir.text().strip()
        self.folder_check = None
        if not folder:
            self.model_result.clear()
            self.model_checked.emit()
            return
        self.model_result.show_text("Checking every file's checksum…" if verify else
                                    "Looking at the folder…", "info")
        # Bound methods, not lambdas: a dialog deleted meanwhile then gets no answer.
        self.check_task = tasks.run(lambda: (folder, check_folder(folder, verify=verify)),
                                    self._model_checked, self._model_check_failed,
                                    "checking the model folder")

    def _model_check_failed(self, text: str) -> None:
        self.model_result.show_text(text, "error")

    def _model_checked(self, answer: tuple[str, FolderCheck]) -> None:
        folder, result = answer
        if folder != self.model_dir.text().strip():
            return  # edited meanwhile: a newer check follows
        self.folder_check = result
        if result.ok:
            self.model_result.show_text(result.text(), "ok")
        else:
            self.model_result.clear()  # the field's own problem line says it
        self.model_checked.emit()

    def _mode_changed(self, *_args) -> None:
        self.mode_note.setText(MODE_NOTES[self.mode.currentData()])

    # --- connection test and trusting the server's certificate --------------------------

    def test_connection(self) -> None:
        """GET <address>/healthz on a worker thread; the answer shows under the button."""
        self.connection.run()

    def _tested(self, result: ServerCheck) -> None:
        self.test_result.setToolTip(f"The secure connection library says: {result.detail}"
                                    if result.detail else "")
        self.tested.emit(result)

    def _trust(self, url: str, presented: str) -> None:
        self.fingerprint.setText(presented)  # an edit like typing it: Apply saves it
        self._pinned_for = url

    def _address_edited(self, text: str) -> None:
        # A pinned certificate belongs to its server: another address forgets it, and a
        # certificate offered for the old one is not offered any more.
        if self._loading:
            return
        self.connection.forget()
        if self.fingerprint.text() and not same_server(text, self._pinned_for):
            self.fingerprint.clear()

    def _fingerprint_edited(self, _text: str) -> None:
        if not self._loading:
            self._pinned_for = self.server_url.text()
