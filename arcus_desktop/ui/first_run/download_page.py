"""Step 3, the download: PersonaPlex (and, if wanted, the speech-to-text model for the
user's words) into the Hugging Face cache, with bytes, speed, time left and Cancel.
A stopped download, cancelled or cut, continues where it stopped: now with Resume, or
after a restart, since huggingface_hub keeps the partial file."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (QCheckBox, QLabel, QProgressBar, QPushButton, QVBoxLayout,
                               QWizardPage)

from ...bridge.model_download import (REPO_ID, STT_REPO_ID, DownloadProgress, ModelDownload,
                                      bytes_on_disk, find_cached_model)
from ...bridge.model_folder import check_folder
from ...bridge.model_info import locate
from ...core.errors import (MODEL_PAGE, ArcusError, AuthError, CorruptFileError,
                            DiskFullError, NetworkError)
from ..settings.common import Message, Note, row
from .licence_page import open_link
from .wizard import DONE
from ..indicators import visible

NAMES = {REPO_ID: "PersonaPlex-7B", STT_REPO_ID: "speech-to-text"}
STEPS = 1000  # QProgressBar holds an int: the bar counts thousandths, not bytes


def size(n: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:.0f} bytes"


def time_left(seconds: float) -> str:
    if seconds < 60:
        return "less than a minute left"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"about {minutes} minute{'s' if minutes > 1 else ''} left"
    hours = seconds / 3600
    shown = f"{hours:.1f}".removesuffix(".0") if hours < 10 else str(round(hours))
    return f"about {shown} hours left"


def describe(p: DownloadProgress) -> str:
    """'1.2 GB of 16.7 GB · 45.3 MB/s · about 6 minutes left'."""
    parts = [f"{size(p.done)} of {size(p.total)}"]
    if p.speed > 0 and p.done < p.total:
        parts += [f"{size(p.speed)}/s", time_left((p.total - p.done) / p.speed)]
    return " · ".join(parts)


def way_forward(error: ArcusError) -> str:
    """What to do about a failed download, in the wizard's terms (the errors' own hints
    speak of command-line options)."""
    if isinstance(error, AuthError):
        return ("Open the model page, sign in with the account the token belongs to and "
                "accept the licence; or go back and paste another token. Then Retry.")
    if isinstance(error, NetworkError):
        return "Check the internet connection, then Retry: the download continues where it stopped."
    if isinstance(error, DiskFullError):
        return "Free up space on that drive, then Retry: what is downloaded is kept."
    if isinstance(error, CorruptFileError):
        return "The damaged file was deleted: download it again."
    return error.hint


class DownloadPage(QWizardPage):
    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Download")
        self.setSubTitle("PersonaPlex-7B is about 17 GB. If the download stops, it "
                         "continues where it stopped, even after a restart.")
        self.what = QLabel()
        self.bar = QProgressBar()
        self.bar.setRange(0, STEPS)
        self.bar.setAccessibleName("Download progress")
        self.detail = QLabel()
        self.file_line = Note()
        self.message = Message()
        self.message.setAccessibleName("Download status")
        self.cancel_button = QPushButton("&Cancel download")
        self.cancel_button.clicked.connect(self.cancel)
        self.retry_button = QPushButton("&Retry")
        self.retry_button.clicked.connect(self.start)
        self.model_page_button = QPushButton("Open the &model page")
        self.model_page_button.clicked.connect(self._open_model_page)
        self.token_button = QPushButton("Change the &token")
        self.token_button.clicked.connect(self._change_token)
        self.stt = visible(QCheckBox("Also download &speech-to-text (a smaller model), so the "
                                     "transcript shows your words too"))
        self.stt.toggled.connect(self._stt_toggled)
        layout = QVBoxLayout(self)
        layout.addWidget(self.stt)
        layout.addSpacing(8)
        layout.addWidget(self.what)
        layout.addWidget(self.bar)
        layout.addWidget(self.detail)
        layout.addWidget(self.file_line)
        layout.addWidget(self.message)
        layout.addWidget(row(self.cancel_button, self.retry_button, self.model_page_button,
                             self.token_button))
        layout.addStretch(1)
        self.job: ModelDownload | None = None
        self.state = "idle"  # running, stopping, paused, failed or done
        self.name = NAMES[REPO_ID]  # of the model being fetched
        self.error: ArcusError | None = None
        self._buttons()

    # --- state --------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.job is not None and self.job.running

    def _queue(self) -> list[str]:
        """What is left to fetch, in order."""
        c = self.wizard().choices
        queue = [] if c.model_dir is not None else [REPO_ID]
        if self.stt.isChecked() and c.stt_dir is None:
            queue.append(STT_REPO_ID)
        return queue

    def initializePage(self) -> None:  # noqa: N802 (Qt's name)
        c = self.wizard().choices
        if c.model_dir is None:
            c.model_dir = _installed_model()
        if c.stt_dir is None:
            c.stt_dir = find_cached_model(STT_REPO_ID)
        if c.stt_dir is not None:
            self.stt.setChecked(True)
        if not self.running:
            self.start()

    def cleanupPage(self) -> None:  # noqa: N802 (Qt's name)
        self.stop()  # Back pauses; Next comes back here and resumes

    def isComplete(self) -> bool:  # noqa: N802 (Qt's name)
        return not self.running and self.wizard().choices.model_dir is not None

    def nextId(self) -> int:  # noqa: N802 (Qt's name)
        return DONE

    # --- the download -------------------------------------------------------------------

    def start(self) -> None:
        """Fetch the next model in the queue (Retry and Resume too)."""
        queue = self._queue()
        self.error = None
        if not queue:
            self._all_done()
            return
        repo = queue[0]
        c = self.wizard().choices
        self.what.setText(f"<b>Downloading {NAMES[repo]}</b>")
        self.name = NAMES[repo]
        kept = bytes_on_disk(repo)
        if kept:
            self.message.show_text(f"Continuing from before: {size(kept)} is already here.",
                                   "info")
        else:
            self.message.clear()
        self._lines("Asking Hugging Face…")
        if self.job is not None:
            self.job.deleteLater()  # ended: its outcome was delivered
        self.job = ModelDownload(repo, token=c.hf_token or None, endpoint=self.wizard().endpoint,
                                 parent=self)
        self.job.progress.connect(self._progress)
        self.job.finished.connect(self._finished)
        self.job.failed.connect(self._failed)
        self.job.cancelled.connect(self._cancelled)
        self.job.start()
        self._set_state("running")

    def cancel(self) -> None:
        if self.running:
            self.job.cancel()
            self._lines("Stopping…")
            self._set_state("stopping")

    def stop(self) -> None:
        """Cancel without waiting (closing the wizard, going back)."""
        if self.running:
            self.job.cancel()

    def _progress(self, p: DownloadProgress) -> None:
        if p.total:
            self.bar.setValue(round(STEPS * p.done / p.total))
        if self.state == "running":
            self._lines(describe(p), f"Now: {p.filename}")

    def _finished(self, folder: Path) -> None:
        c = self.wizard().choices
        if self.job.repo_id == REPO_ID:
            c.model_dir = _installed_model() or folder
        else:
            c.stt_dir = folder
        self.start()

    def _failed(self, error: ArcusError) -> None:
        self.error = error
        self.what.setText(f"<b>{self.name} is not downloaded yet</b>")
        self._lines()
        self.message.show_text(f"{error.message} {way_forward(error)}".strip(), "error")
        self.retry_button.setText("&Download again" if isinstance(error, CorruptFileError)
                                  else "&Retry")
        self._set_state("failed")

    def _cancelled(self) -> None:
        self.what.setText(f"<b>{self.name}: paused</b>")
        self._lines()
        self.message.show_text("The download is paused. What is downloaded is kept: Resume "
                               "continues from there, now or the next time Arcus starts.",
                               "info")
        self.retry_button.setText("&Resume")
        self._set_state("paused")

    def _all_done(self) -> None:
        c = self.wizard().choices
        self.what.setText("<b>Downloaded</b>")
        self.bar.setValue(STEPS)
        self._lines()
        text = "PersonaPlex-7B is downloaded and checked."
        if c.stt_dir is not None:
            text += " Speech-to-text is ready too."
        self.message.show_text(text, "ok")
        self._set_state("done")

    def _lines(self, detail: str = "", file_line: str = "") -> None:
        """The lines under the bar; hidden when empty, so no gap is left."""
        for label, text in ((self.detail, detail), (self.file_line, file_line)):
            label.setText(text)
            label.setVisible(bool(text))

    def _set_state(self, state: str) -> None:
        self.state = state
        self._buttons()
        self.completeChanged.emit()

    def _buttons(self) -> None:
        busy = self.state in ("running", "stopping")
        self.cancel_button.setVisible(busy)
        self.cancel_button.setEnabled(self.state == "running")
        self.retry_button.setVisible(self.state in ("failed", "paused"))
        auth = isinstance(self.error, AuthError)
        self.model_page_button.setVisible(auth)
        self.token_button.setVisible(auth)
        # Ticked while PersonaPlex downloads, it is fetched next (the queue is read then).
        fetching_stt = busy and self.job.repo_id == STT_REPO_ID
        self.stt.setEnabled(not fetching_stt and (self.wizard() is None
                                                  or self.wizard().choices.stt_dir is None))

    def _stt_toggled(self, on: bool) -> None:
        if self.running or self.wizard() is None or self.wizard().choices.model_dir is None:
            return  # the queue is read again when PersonaPlex is done
        if on:
            self.start()
        else:
            self._all_done()

    def _open_model_page(self) -> None:
        if not open_link(MODEL_PAGE) and MODEL_PAGE not in self.message.text():
            self.message.show_text(f"{self.message.text()} No web browser could be opened: "
                                   f"copy this address into one: {MODEL_PAGE}", "error")

    def _change_token(self) -> None:
        self.wizard().back()  # to the licence page, where the token is


def _installed_model() -> Path | None:
    """The downloaded model, unless a look inside finds a file damaged: then the download
    runs, and fetches that file anew (engine/download.py)."""
    try:
        root = locate().root
    except ArcusError:
        return None
    return root if check_folder(root).ok else None
