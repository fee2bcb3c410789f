"""The setup wizard: its pages in order, the choices they share, and saving them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QEvent, QSize, QTimer, Signal
from PySide6.QtWidgets import QWidget, QWizard

from ...bridge import gpu_probe
from ...bridge.server_check import ServerCheck
from ...bridge.gpu_probe import ModePick
from ...bridge.settings_store import AppSettings, SettingsService
from ...core import modes

COMPUTER, LICENCE, DOWNLOAD, SERVER, DONE, MODEL = range(6)


@dataclass
class Choices:
    """What the pages found out and the user chose; `settings()` turns it into settings."""

    gpus: list[gpu_probe.Gpu] = field(default_factory=list)
    recommended: ModePick | None = None
    mode: str = ""  # one of core.modes.WIZARD
    hf_token: str = field(default="", repr=False)  # for this run; saved in the keyring only
    model_dir: Path | None = None
    model_folder: bool = False  # model_dir is the user's own folder, not the download
    stt_dir: Path | None = None
    server_url: str = ""
    server_fingerprint: str = ""  # its certificate, trusted on the server page
    server_check: ServerCheck | None = None

    @property
    def local(self) -> bool:
        return self.mode in modes.ON_THIS_COMPUTER

    @property
    def saved_mode(self) -> str:
        """The recommendation, kept, is saved as AUTO: the engine then applies the same
        rule to the free memory it finds at each start (and gets 4-bit's short context)."""
        if (self.recommended is not None and self.mode == self.recommended.mode
                and self.mode in modes.GPU):
            return modes.AUTO
        return self.mode

    def settings(self, current: AppSettings) -> AppSettings:
        s = current.copy()
        s.engine.mode = self.saved_mode
        if self.local:  # the user's folder, or "": the downloaded model
            s.engine.model_dir = str(self.model_dir) if self.model_folder and self.model_dir else ""
        if self.mode == modes.SERVER:
            s.engine.server_url = self.server_url.strip()
            s.engine.server_fingerprint = self.server_fingerprint
        return s


class FirstRunWizard(QWizard):
    """From nothing to a working assistant. `detect_gpu()` (run off the GUI thread)
    returns what `nvidia-smi --query-gpu=…` prints, or None without one; `endpoint` is
    the Hugging Face hub to download from (None: the real one, or $HF_ENDPOINT)."""

    applied = Signal(object)  # AppSettings, saved at Finish

    def __init__(self, settings_service: SettingsService, *,
                 detect_gpu: Callable[[], str | None] | None = None,
                 endpoint: str | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from .computer_page import ComputerPage
        from .done_page import DonePage
        from .download_page import DownloadPage
        from .licence_page import LicencePage
        from .model_page import ModelPage
        from .server_page import ServerPage

        self.service = settings_service
        self.detect_gpu = detect_gpu or gpu_probe.nvidia_smi
        self.endpoint = endpoint
        self.choices = Choices()
        self.setWindowTitle("Set up Arcus")
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage)
        self.computer = ComputerPage()
        self.model = ModelPage()
        self.licence = LicencePage()
        self.download = DownloadPage()
        self.server = ServerPage()
        self.done_page = DonePage()
        for page_id, page in ((COMPUTER, self.computer), (MODEL, self.model),
                              (LICENCE, self.licence),
                              (DOWNLOAD, self.download), (SERVER, self.server),
                              (DONE, self.done_page)):
            self.setPage(page_id, page)
            page.installEventFilter(self)  # its texts change: the wizard grows to show them
        self.setStartId(COMPUTER)
        self.currentIdChanged.connect(self._cancel_label)
        self._cancel_label(COMPUTER)
        self.setMinimumSize(QSize(560, 460))
        self.resize(660, 540)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt's name)
        # QWizard sizes a page by its minimum width and ignores how tall its wrapped texts
        # get at the actual width: without this, long texts were cut off, not wrapped.
        if event.type() in (QEvent.Type.LayoutRequest, QEvent.Type.Resize, QEvent.Type.Show):
            QTimer.singleShot(0, obj, lambda: _fit(obj))
        return super().eventFilter(obj, event)

    def save(self) -> AppSettings:
        """Apply the choices to the app's settings (raises OSError when they cannot be
        written). Tokens were already put in the keyring by their pages."""
        s = self.choices.settings(self.service.settings)
        self.service.apply(s)
        self.applied.emit(s)
        return s

    def _cancel_label(self, page_id: int) -> None:
        # Until the last page nothing is set up yet; there, everything is but the saving.
        self.setButtonText(QWizard.WizardButton.CancelButton,
                           "&Cancel" if page_id == DONE else "Set up &later")

    def done(self, result: int) -> None:
        self.download.stop()  # closing mid-download pauses it; the next run resumes
        self.model.stop()
        super().done(result)


def _fit(page: QWidget) -> None:
    """The page at least as tall as its wrapped texts need at its width: its minimum,
    and the wizard grown by what it lacks (within the screen)."""
    need = page.layout().totalHeightForWidth(page.width()) if page.layout() else -1
    if need <= 0:
        return
    if page.minimumHeight() != need:
        page.setMinimumHeight(need)
    # QWizard shows the page in a frame of its own size, clipping what does not fit.
    frame = page.parentWidget()
    wizard, short = page.window(), page.y() + need - (frame.height() if frame else need)
    if short > 0 and page.isVisible() and wizard.screen() is not None:
        title_bar = wizard.frameGeometry().height() - wizard.height()
        room = wizard.screen().availableGeometry().height() - title_bar
        wizard.resize(wizard.width(), min(wizard.height() + short, max(room, wizard.height())))
