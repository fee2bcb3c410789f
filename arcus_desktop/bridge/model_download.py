"""One model download (engine/download.py) off the GUI thread, with its progress,
result and failure delivered back to it as signals, and a cancel.

The transfer runs on a daemon thread: quitting the app mid-download neither waits for
it nor aborts; huggingface_hub keeps the partial file, and the next download resumes it.
Cancel works through the progress callback, the one place the download calls us.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal, Slot

from ..core import app_log
from ..core.errors import ArcusError
from ..engine.download import REPO_ID, DownloadProgress, download_model
from ..engine.download import STT_REPO_ID, TOKEN_PAGE, find_cached_model  # noqa: F401 (ui's)
from .tasks import GENERIC_ERROR

log = logging.getLogger(__name__)


class Cancelled(Exception):
    """Raised in the progress callback to stop the download."""


class ModelDownload(QObject):
    """`start()` once; then `progress` (coalesced: at most one waits in the GUI's queue,
    the newest wins), and one of `finished(folder)`, `failed(ArcusError)`, `cancelled()`."""

    progress = Signal(object)  # DownloadProgress
    finished = Signal(object)  # Path: the folder that holds the model
    failed = Signal(object)  # ArcusError with a message and a hint for the user
    cancelled = Signal()
    _tick = Signal()
    _ended = Signal(str, object)  # "finished" / "failed" / "cancelled", value

    def __init__(self, repo_id: str = REPO_ID, *, token: str | None = None,
                 endpoint: str | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.repo_id = repo_id
        self.token = token
        self.endpoint = endpoint
        self.running = False
        self.latest: DownloadProgress | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pending: DownloadProgress | None = None
        self._tick.connect(self._deliver_progress, Qt.ConnectionType.QueuedConnection)
        self._ended.connect(self._deliver_end, Qt.ConnectionType.QueuedConnection)

    def start(self) -> None:
        assert not self.running, "one download at a time"
        self.running = True
        self._stop.clear()
        threading.Thread(target=self._run, name=f"download {self.repo_id}", daemon=True).start()

    def cancel(self) -> None:
        """Stop at the next progress report; `cancelled` follows."""
        self._stop.set()

    # --- the worker thread --------------------------------------------------------------

    def _run(self) -> None:
        try:
            folder = download_model(self.repo_id, token=self.token, endpoint=self.endpoint,
                                    progress=self._report)
        except Cancelled:
            self._end("cancelled", None)
        except ArcusError as e:
            log.info("downloading %s failed: %s", self.repo_id, e.user_text())
            self._end("failed", e)
        except Exception:  # a bug: logged in full, told briefly
            log.exception("downloading %s failed", self.repo_id)
            self._end("failed", ArcusError(f"{GENERIC_ERROR} {app_log.details()}"))
        else:
            self._end("finished", Path(folder))

    def _report(self, p: DownloadProgress) -> None:
        if self._stop.is_set():
            raise Cancelled()
        with self._lock:
            queued = self._pending is not None
            self._pending = p
        if not queued:
            self._emit(self._tick)

    def _end(self, kind: str, value) -> None:
        self._emit(self._ended, kind, value)

    @staticmethod
    def _emit(signal, *args) -> None:
        try:
            signal.emit(*args)
        except RuntimeError:  # the window that owned us is gone: nobody to tell
            pass

    # --- the GUI thread -----------------------------------------------------------------

    @Slot()
    def _deliver_progress(self) -> None:
        with self._lock:
            p, self._pending = self._pending, None
        if p is not None and self.running:
            self.latest = p
            self.progress.emit(p)

    @Slot(str, object)
    def _deliver_end(self, kind: str, value) -> None:
        self._deliver_progress()  # the last numbers before the outcome
        self.running = False
        if kind == "finished":
            self.finished.emit(value)
        elif kind == "failed":
            self.failed.emit(value)
        else:
            self.cancelled.emit()


def bytes_on_disk(repo_id: str = REPO_ID) -> int:
    """Bytes of `repo_id` already in the Hugging Face cache, finished or partial: what a
    download started now does not fetch again."""
    from ..engine.download import _cache_root

    blobs = _cache_root(None) / f"models--{repo_id.replace('/', '--')}" / "blobs"
    try:
        return sum(e.stat().st_size for e in os.scandir(blobs) if e.is_file())
    except OSError:
        return 0
