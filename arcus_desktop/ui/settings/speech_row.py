"""Settings > Engine > Speech-to-text: whether the model that writes down the user's own
words is installed, and a button that downloads it (the GUI's way to what
`arcus-desktop download --stt` does), with its progress, a cancel and its errors."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QPushButton, QVBoxLayout, QWidget

from ...bridge.model_download import STT_REPO_ID, DownloadProgress, ModelDownload, find_cached_model
from ...core.errors import ArcusError, DiskFullError, NetworkError
from .common import Message, row

SIZE = "about 2.5 GB"
MISSING = ("Not installed: the transcript shows Arcus's words only; yours appear as timed "
           "turns without words.")
READY = "Installed: your own words appear in the transcript."
JUST_READY = "Installed. Your own words appear in the transcript from the next conversation."


class SpeechToTextRow(QWidget):
    installed = Signal(object)  # Path: the downloaded model, ready for the next engine

    def __init__(self, endpoint: str | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.endpoint = endpoint  # another hub (tests); None: Hugging Face
        self.status = Message()
        self.status.setAccessibleName("Speech-to-text")
        self.button = QPushButton(f"&Download speech-to-text ({SIZE})")
        self.button.setAccessibleName("Download speech-to-text")
        self.button.clicked.connect(self._clicked)
        self.download: ModelDownload | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.status)
        layout.addWidget(row(self.button))
        self.refresh()

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        self.refresh()

    @property
    def busy(self) -> bool:
        return self.download is not None and self.download.running

    def refresh(self) -> None:
        """What is installed now (a download in another window may have added it)."""
        if self.busy:
            return
        if find_cached_model(STT_REPO_ID) is not None:
            if self.status.label.text() != JUST_READY:
                self.status.show_text(READY, "ok")
            self.button.hide()
        else:
            self.status.show_text(MISSING, "info")
            self.button.setText(f"&Download speech-to-text ({SIZE})")
            self.button.show()

    def start(self) -> None:
        if self.busy:
            return
        # The model is public: no token. Its own object each time: a finished one is done.
        self.download = ModelDownload(STT_REPO_ID, endpoint=self.endpoint, parent=self)
        self.download.progress.connect(self._progress)
        self.download.finished.connect(self._finished)
        self.download.failed.connect(self._failed)
        self.download.cancelled.connect(self._cancelled)
        self.download.start()
        self.status.show_text("Downloading speech-to-text…", "info")
        self.button.setText("&Cancel download")
        self.button.setAccessibleName("Cancel the speech-to-text download")

    def cancel(self) -> None:
        if self.busy:
            self.download.cancel()

    def _clicked(self) -> None:
        self.cancel() if self.busy else self.start()

    def _progress(self, p: DownloadProgress) -> None:
        if p.total:
            self.status.show_text(f"Downloading speech-to-text… {100 * p.done // p.total}% "
                                  f"({p.done / 1e9:.2f} of {p.total / 1e9:.2f} GB)", "info")

    def _finished(self, folder: Path) -> None:
        self.button.setAccessibleName("Download speech-to-text")
        self.status.show_text(JUST_READY, "ok")
        self.button.hide()
        self.installed.emit(folder)

    def _failed(self, error: ArcusError) -> None:
        self._again()
        self.status.show_text(f"{error.message} {_way_forward(error)}".strip(), "error")

    def _cancelled(self) -> None:
        self._again()
        self.status.show_text("Download cancelled. " + MISSING, "info")

    def _again(self) -> None:
        self.button.setText(f"&Download speech-to-text ({SIZE})")
        self.button.setAccessibleName("Download speech-to-text")
        self.button.show()


def _way_forward(error: ArcusError) -> str:
    """The error's way forward in this row's terms (its own hint speaks of command-line
    options such as --model-dir)."""
    if isinstance(error, NetworkError):
        return "Check the internet connection, then Download again: it goes on where it stopped."
    if isinstance(error, DiskFullError):
        return "Free up space on that drive, then Download again: what came is kept."
    return "" if "--" in error.hint else error.hint

