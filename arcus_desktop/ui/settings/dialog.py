"""The settings dialog: pages in a sidebar, OK / Apply / Cancel, problems shown under
the fields they concern. Nothing here blocks: the model folder, the audio devices, the
server test and the sync sign-in are all read on worker threads."""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QHBoxLayout, QListWidget,
                               QListWidgetItem, QStackedWidget, QStyle, QVBoxLayout, QWidget)

from ...bridge import tasks
from ...bridge.model_info import ModelInfo, read_model_info
from ...bridge.settings_store import SettingsService
from ...bridge.sync_account import SyncAccount
from ...core.errors import ArcusError
from ...bridge import settings_store as app_settings
from ...bridge.settings_store import AppSettings, Problem, Secrets, secret_store
from .audio_page import AudioPage
from .common import Message, Page
from .engine_page import EnginePage
from .hotkey_page import HotkeyPage
from .persona_page import PersonaPage
from .simple_pages import DataPage, MemoryPage, SamplingPage
from .sync_page import SyncPage
from .voice_page import VoicePage


ICON_PX = 16  # the sidebar's warning icon


def _blank_icon() -> QIcon:
    pixmap = QPixmap(ICON_PX, ICON_PX)
    pixmap.fill(Qt.GlobalColor.transparent)
    return QIcon(pixmap)


def _list_devices(refresh: bool = False):
    try:
        from ...bridge.audio_devices import list_devices

        return list_devices(refresh=refresh)
    except OSError as e:  # sounddevice found no PortAudio library
        raise ArcusError("PortAudio, which Arcus uses for sound, is not installed.",
                         "Install it (libportaudio2 on Debian and Ubuntu).") from e


class SettingsDialog(QDialog):
    """Edit the settings of `service`. OK and Apply check everything, save the tokens
    to the password store, then give the settings to `service.apply` and emit `applied`.

    `model_info` skips reading the model folder (tests pass the tiny model's);
    `list_devices(refresh=...)` lists audio devices (audio.devices' by default);
    `memory_service` (bridge.memory_service) lets the persona preview show memories;
    `voice_samples` (bridge.voice_samples) lets the preset voices be heard."""

    applied = Signal(object)  # AppSettings, saved
    model_loaded = Signal(object)  # ModelInfo, once its voices and tokenizer are shown
    setup_requested = Signal()  # the Engine page's "Run setup again…"; the dialog has closed

    def __init__(self, service: SettingsService, *, model_info: ModelInfo | None = None,
                 model_dir=None, list_devices: Callable | None = None, memory_service=None,
                 sync_account: SyncAccount | None = None, voice_samples=None,
                 hub_endpoint: str | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Arcus Settings")
        self.setMinimumSize(QSize(440, 340))
        self.service = service
        self.model_info: ModelInfo | None = None
        self._secrets = app_settings.load_secrets()
        current = self.current_settings
        self.sync_account = sync_account or SyncAccount(self)

        if voice_samples is not None and voice_samples.parent() is None:
            voice_samples.setParent(self)  # goes with the dialog
        self.voice = VoicePage(current, voice_samples)
        self.persona = PersonaPage(current, memory_service)
        self.sampling = SamplingPage(current)
        self.engine = EnginePage(current, keyring_available=secret_store.available(),
                                 hub_endpoint=hub_endpoint)
        self.engine.setup_requested.connect(self._run_setup)
        self.engine.model_checked.connect(self._validate)
        self.audio = AudioPage(current, list_devices or _list_devices)
        self.hotkey = HotkeyPage(current)
        self.memory = MemoryPage(current)
        self.sync = SyncPage(current, self.sync_account)
        self.data = DataPage(current)
        # What most people change first at the top; Sampling's knobs are for the curious.
        self.pages: list[Page] = [self.voice, self.persona, self.audio, self.engine,
                                  self.hotkey, self.memory, self.sync, self.sampling, self.data]

        self.sidebar = QListWidget()
        self.sidebar.setAccessibleName("Settings pages")
        self.sidebar.setSpacing(2)
        self.sidebar.setIconSize(QSize(ICON_PX, ICON_PX))
        # Every row holds an icon, a blank one until its page has a problem: the warning
        # then takes space that was already there instead of making the rows jump.
        self._no_icon = _blank_icon()
        self.stack = QStackedWidget()
        for page in self.pages:
            self.sidebar.addItem(QListWidgetItem(self._no_icon, page.title))
            self.stack.addWidget(page)
        self.sidebar.setFixedWidth(self.sidebar.sizeHintForColumn(0) + 48)
        self.sidebar.currentRowChanged.connect(self.stack.setCurrentIndex)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Apply
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.apply_button = self.buttons.button(QDialogButtonBox.StandardButton.Apply)
        self.ok_button.clicked.connect(self.accept)
        self.apply_button.clicked.connect(self.apply)
        self.buttons.rejected.connect(self.reject)
        self.message = Message()  # what no single field owns (a settings file that cannot be written)

        top = QHBoxLayout()
        top.addWidget(self.sidebar)
        top.addWidget(self.stack, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top, 1)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        for keys, step in ((QKeySequence.StandardKey.NextChild, 1),
                           (QKeySequence.StandardKey.PreviousChild, -1),
                           (QKeySequence("Ctrl+PgDown"), 1), (QKeySequence("Ctrl+PgUp"), -1)):
            QShortcut(keys, self, lambda step=step: self._turn_page(step))

        self._load(service.settings)
        for page in self.pages:
            page.edited.connect(self._edited)
        self.sidebar.setCurrentRow(0)
        self.apply_button.setEnabled(False)
        self.resize(780, 560)

        if model_info is not None:
            self.set_model_info(model_info)
        else:
            folder = model_dir if model_dir is not None else service.settings.engine.model_folder
            self._read_model(folder)
        self.audio.list_devices()

    # --- state --------------------------------------------------------------------------

    def _load(self, s: AppSettings) -> None:
        self._base = s.copy()  # values no page edits (sync's device id...) come from here
        for page in self.pages:
            page.load_all(s, self._secrets)

    def current_settings(self) -> AppSettings:
        """What the pages hold now, applied or not."""
        s, _secrets = self._collect()
        return s

    def _collect(self) -> tuple[AppSettings, Secrets]:
        s = self._base.copy()
        secrets = Secrets(self._secrets.hf_token, self._secrets.server_token)
        for page in self.pages:
            page.store(s, secrets)
        return s, secrets

    def _read_model(self, folder) -> None:
        tasks.run(lambda: read_model_info(folder), self.set_model_info,
                  what="reading the model folder")

    def set_model_info(self, info: ModelInfo) -> None:
        self.model_info = info
        self.voice.set_voices(info.voices, info.installed)
        self.persona.set_tokenizer(info.tokenizer)
        self._validate()
        self.model_loaded.emit(info)

    # --- checking and applying ----------------------------------------------------------

    def problems(self) -> list[Problem]:
        s = self.current_settings()
        found = app_settings.check(s)
        for page in self.pages:
            found += page.problems()
        return found

    def _validate(self) -> list[Problem]:
        """Show every problem under its field and mark the pages that have one."""
        problems = self.problems()
        icon = self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        for i, page in enumerate(self.pages):
            rest = page.show_problems(problems)
            mine = len(problems) - len(rest)
            item = self.sidebar.item(i)
            item.setIcon(icon if mine else self._no_icon)
            item.setToolTip(f"{mine} problem{'s' if mine > 1 else ''} to fix" if mine else "")
        return problems

    def _edited(self) -> None:
        self.apply_button.setEnabled(True)
        self.message.clear()
        self._validate()

    def apply(self) -> bool:
        """Check, save and announce the settings; False (with the reasons shown) when
        something must be fixed first."""
        problems = self._validate()
        if problems:
            self._go_to(problems[0].key)
            return False
        s, secrets = self._collect()
        try:
            app_settings.save_secrets(secrets, self._secrets)
        except ArcusError as e:
            self.engine.show_problems([Problem("secrets/server_token", e.user_text())])
            self._go_to("secrets/server_token")
            return False
        self._secrets = secrets
        try:
            self.service.apply(s)
        except OSError as e:
            self.message.show_text(f"The settings could not be saved ({e.strerror or e}). "
                                   "Check that the data folder can be written to.", "error")
            return False
        model_moved = s.engine.model_folder != self._base.engine.model_folder
        self._base = s.copy()
        self.apply_button.setEnabled(False)
        if model_moved:  # its voices and tokenizer come from the new folder
            self._read_model(s.engine.model_folder)
        self.applied.emit(s)
        return True

    def accept(self) -> None:
        if self.apply():
            super().accept()

    def _run_setup(self) -> None:
        # The wizard saves settings of its own: this dialog's copy would be stale.
        self.reject()
        self.setup_requested.emit()

    def _go_to(self, key: str) -> None:
        for i, page in enumerate(self.pages):
            if key in page.fields:
                self.sidebar.setCurrentRow(i)
                page.focus_problem(key)
                return

    def _turn_page(self, step: int) -> None:
        self.sidebar.setCurrentRow((self.sidebar.currentRow() + step) % self.sidebar.count())

    def show_page(self, title: str) -> None:
        """Open on a page by its title ("Voice", "Sync"...), e.g. from a tray menu."""
        for i, page in enumerate(self.pages):
            if page.title == title:
                self.sidebar.setCurrentRow(i)
