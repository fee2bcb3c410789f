"""One call off the GUI thread, its result back on it: for the short blocking jobs a
window starts (reading the model folder, listing audio devices, asking a server), so a
slow disk or network never freezes it."""

from __future__ import annotations

import logging
from typing import Callable

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal, Slot

from ..core import app_log
from ..core.errors import ArcusError

log = logging.getLogger(__name__)

GENERIC_ERROR = "Something went wrong."  # then where its details are (core/app_log)
_pool: QThreadPool | None = None
_running: set[Task] = set()  # kept alive until their result is delivered


def pool() -> QThreadPool:
    global _pool
    if _pool is None:
        _pool = QThreadPool()
        _pool.setMaxThreadCount(4)
    return _pool


class Task(QObject):
    """`done(result)` or `failed(text for the user)` arrives on the thread that started it."""

    done = Signal(object)
    failed = Signal(str)
    _result = Signal(bool, object)

    def __init__(self, fn: Callable[[], object], what: str) -> None:
        super().__init__()
        self.what = what
        self.finished = False
        # Explicitly queued: the worker emits, this object's (the GUI) thread receives.
        self._result.connect(self._deliver, Qt.ConnectionType.QueuedConnection)
        self._runnable = _Runnable(fn, self)

    @Slot(bool, object)
    def _deliver(self, ok: bool, result) -> None:
        self.finished = True
        _running.discard(self)
        if ok:
            self.done.emit(result)
        else:
            self.failed.emit(result)


class _Runnable(QRunnable):
    def __init__(self, fn: Callable[[], object], task: Task) -> None:
        super().__init__()
        self.fn, self.task = fn, task

    def run(self) -> None:
        what = self.task.what
        try:
            result = self.fn()
        except ArcusError as e:
            log.info("%s failed: %s", what, e.user_text())
            self.task._result.emit(False, e.user_text())
        except Exception:  # a bug: logged in full, told briefly
            log.exception("%s failed", what)
            self.task._result.emit(False, f"{GENERIC_ERROR} {app_log.details()}")
        else:
            self.task._result.emit(True, result)


def run(fn: Callable[[], object], on_done: Callable | None = None,
        on_failed: Callable[[str], None] | None = None, what: str = "a background job") -> Task:
    """Run `fn()` on the pool; connect the callbacks (bound methods of widgets are best:
    a closed window stops receiving) before it can finish."""
    task = Task(fn, what)
    if on_done is not None:
        task.done.connect(on_done)
    if on_failed is not None:
        task.failed.connect(on_failed)
    _running.add(task)
    pool().start(task._runnable)
    return task
