"""Memory sync for the GUI: a worker thread runs the sync engine (on its own SQLite
connection) on a schedule and on demand, waits longer after each failure, and reports
its state as a signal for the tray tooltip and the settings."""

from __future__ import annotations

import logging
import time

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from ..core.errors import ArcusError
from ..memory.store import MemoryStore
from ..settings.sync import SyncSettings
from ..sync.engine import SyncAuthError, SyncEngine, SyncStatus

log = logging.getLogger(__name__)


class _Worker(QObject):
    status = Signal(object)

    def __init__(self, make_engine, interval_s: float) -> None:
        super().__init__()
        self._make_engine, self._interval_s = make_engine, interval_s
        self._engine: SyncEngine | None = None
        self._timer: QTimer | None = None

    @Slot()
    def start(self) -> None:
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.sync)
        self.sync()

    @Slot()
    def sync(self) -> None:
        try:
            if self._engine is None:
                self._engine = self._make_engine()
            status = self._engine.sync_once()
        except ArcusError as e:  # not signed in, server unreachable, disk trouble
            status = SyncStatus(error=e.user_text(), retry_in=self._interval_s)
        except Exception as e:  # a bug: logged in full, told briefly
            log.exception("sync failed")
            status = SyncStatus(error=f"Sync cannot start ({type(e).__name__}).",
                                retry_in=self._interval_s)
        wait = status.retry_in if status.error else self._interval_s
        self._timer.start(int(wait * 1000))
        self.status.emit(status)

    @Slot()
    def stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        if self._engine is not None:
            self._engine.store.close()
            self._engine = None


class SyncService(QObject):
    """`status_changed(SyncStatus)` after every attempt; `sync_now()` runs one at once."""

    status_changed = Signal(object)
    _sync = Signal()
    _stop = Signal()

    def __init__(self, make_engine, interval_s: float = 300, parent: QObject | None = None):
        super().__init__(parent)
        self.status: SyncStatus | None = None
        self._thread = QThread()
        self._thread.setObjectName("memory-sync")
        self._worker = _Worker(make_engine, interval_s)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.start)
        self._sync.connect(self._worker.sync)
        self._stop.connect(self._worker.stop)
        self._worker.status.connect(self._on_status)
        self._thread.start()

    def _on_status(self, status: SyncStatus) -> None:
        self.status = status
        self.status_changed.emit(status)

    def sync_now(self) -> None:
        self._sync.emit()

    def shutdown(self) -> None:
        if self._thread.isRunning():
            self._stop.emit()
            self._thread.quit()
            self._thread.wait(10_000)


def engine_factory(memory_path, client, user_id: str, device_id: str, embedder=None):
    """What SyncService builds on its thread: the engine on a connection of its own."""
    def make() -> SyncEngine:
        store = MemoryStore(memory_path, **({} if embedder is None else {"embedder": embedder}))
        return SyncEngine(store, client, user_id, device_id)
    return make


def from_settings(settings: SyncSettings, memory_path, parent: QObject | None = None
                  ) -> SyncService | None:
    """The app's sync, when it is turned on. Connecting and checking the saved sign-in
    (which may refresh it over the network) happen on the sync thread, not the GUI's."""
    if not (settings.enabled and settings.url and settings.anon_key):
        return None

    def make() -> SyncEngine:
        from ..sync import account  # supabase-py: imported on the sync thread, not at launch

        client = account.connect(settings.url, settings.anon_key)
        user_id = account.signed_in_user(client)
        if user_id is None:
            raise SyncAuthError("Sync is on, but nobody is signed in.",
                                "Sign in under Settings → Sync.")
        return engine_factory(memory_path, client, user_id, settings.device_id)()

    return SyncService(make, settings.interval_s, parent)


def describe(status: SyncStatus | None, now: float | None = None) -> str:
    """One line for the tray tooltip and the settings."""
    if status is None:
        return "Sync: starting"
    if status.error:
        return f"Sync: {status.error} ({status.pending} changes waiting)"
    ago = max(0, int((now or time.time()) - (status.last_sync or 0)))
    when = "just now" if ago < 60 else f"{ago // 60} min ago"
    pending = f", {status.pending} changes waiting" if status.pending else ""
    return f"Sync: up to date, {when}{pending}"


def start_for_app(parent: QObject | None = None) -> SyncService | None:
    """The app's sync from its saved settings (None when sync is off)."""
    from ..core import paths
    from ..settings import sync as sync_settings

    return from_settings(sync_settings.load(), paths.data_dir() / "memory.db", parent)
