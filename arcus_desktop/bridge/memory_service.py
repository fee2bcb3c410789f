"""The memory store for the GUI: one worker thread owns the SQLite connection (it is
opened there and closed there), every operation runs on it, and results come back to the
GUI thread as signals, so a slow disk or a busy lock never freezes a window.

Each call returns a request id; `finished(id, result)` or `failed(id, text)` follows, in
the order the calls were made (one thread runs them one at a time). `failed` carries text
for people: an ArcusError's own message, or a generic line with the details in the log.
"""

from __future__ import annotations

import logging
import os
from typing import Callable

from PySide6.QtCore import QCoreApplication, QObject, QThread, QTimer, Signal, Slot

from ..core import app_log
from ..core.errors import ArcusError
from ..memory.context import FACTS_INTRO, STYLE_INTRO  # noqa: F401 (the persona page shows them)
from ..memory.recall import recall
from ..memory.store import KINDS, MemoryStore

log = logging.getLogger(__name__)

GENERIC_ERROR = "Something went wrong with the memories."  # then where its details are
CLOSED_ERROR = "The memory store is closed."
_DEFAULT = object()  # "let the store load its default embedder"


class _Worker(QObject):
    """Lives on the memory thread. Opens the store on first use, so the connection is
    created by the thread that will use it."""

    done = Signal(int, str, object)
    failed = Signal(int, str, str)
    opened = Signal(list)

    def __init__(self, path, embedder) -> None:
        super().__init__()
        self._path, self._embedder = path, embedder
        self._store: MemoryStore | None = None

    def _open(self) -> MemoryStore:
        if self._store is None:
            extra = {} if self._embedder is _DEFAULT else {"embedder": self._embedder}
            self._store = MemoryStore(self._path, **extra)
            self.opened.emit(list(self._store.notices))
        return self._store

    @Slot(int, str, object)
    def run(self, rid: int, op: str, fn: Callable[[MemoryStore], object]) -> None:
        try:
            result = fn(self._open())
        except ArcusError as e:
            log.warning("memory %s failed: %s", op, e.user_text())
            self.failed.emit(rid, op, e.user_text())
        except Exception:  # a bug or an unexpected fault: logged in full, told briefly
            log.exception("memory %s failed", op)
            self.failed.emit(rid, op, f"{GENERIC_ERROR} {app_log.details()}")
        else:
            self.done.emit(rid, op, result)

    @Slot()
    def close(self) -> None:
        try:
            if self._store is not None:
                self._store.close()
        except Exception:
            log.exception("closing the memory store failed")
        finally:
            self._store = None
            QThread.currentThread().quit()


class MemoryService(QObject):
    """Qt front of the memory store. Call `shutdown()` before the application exits (it
    is also connected to `aboutToQuit`)."""

    finished = Signal(int, object)  # request id, result
    failed = Signal(int, str)  # request id, text for the user
    startup_notices = Signal(list)  # once, when the store opens: things the user should know
    searched = Signal(int, list)  # request id, memories best first
    listed = Signal(int, list)  # request id, memories pinned first, then newest
    conversation_loaded = Signal(int, object, list)  # id, Conversation or None, its memories
    exported = Signal(int, str)  # how many memories, to which file
    imported = Signal(int)  # how many memories were added or updated
    changed = Signal()  # something was added, edited or deleted

    _post = Signal(int, str, object)
    _close = Signal()

    _CHANGES = frozenset({"add", "update", "delete", "forget_conversation", "import_json",
                          "capture_turn", "capture_finish"})

    def __init__(self, path: str | os.PathLike | None = None, embedder=_DEFAULT,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.notices: list[str] = []  # kept for windows opened after startup
        self._next_id = 0
        self._captures: dict = {}  # key -> ConversationCapture; touched on the memory thread only
        self._closed = False
        self._thread = QThread(self)
        self._thread.setObjectName("arcus-memory")
        self._worker = _Worker(path, embedder)
        self._worker.moveToThread(self._thread)
        self._post.connect(self._worker.run)
        self._close.connect(self._worker.close)
        self._worker.done.connect(self._on_done)
        self._worker.failed.connect(self._on_failed)
        self._worker.opened.connect(self._on_opened)
        self._thread.start()
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)
        self._submit("open", lambda store: None)

    # --- reading -------------------------------------------------------------------------

    def search(self, query: str, kinds: list[str] | None = None, since: float | None = None,
               until: float | None = None, k: int = 50) -> int:
        """Recall, ranked as the conversation engine ranks it; identical texts are all
        listed (the engine keeps one), so each can be edited or deleted."""
        return self._submit("search", lambda s: [
            h.memory for h in recall(s, query, k, kinds, since, until, distinct=False)])

    def list(self, kinds: list[str] | None = None, since: float | None = None,
             until: float | None = None, limit: int = 200) -> int:
        return self._submit("list", lambda s: s.list(kinds, since, until, limit))

    def get(self, memory_id: str) -> int:
        return self._submit("get", lambda s: s.get(memory_id))

    def conversation(self, cid: str) -> int:
        """The conversation (None when it is gone) and all its memories, in order."""
        return self._submit("conversation", lambda s: (s.conversation(cid),
                                                       s.conversation_memories(cid)))

    def persona_context(self, base: str, tokenizer, budget: int, items: int = 5,
                        topic: str = "") -> int:
        """The persona text with the memories a new conversation would get (the
        settings' preview): `finished(id, memory.context.PersonaContext)`."""
        from ..memory import context

        return self._submit("persona_context", lambda s: context.for_topic(
            s, base, tokenizer, budget, topic=topic, items=items))

    def check_outside_changes(self) -> int:
        """Look whether something other than this service (sync, the command line, another
        process) changed the store; `changed` follows when it did."""
        return self._submit("outside", lambda s: s.changed_elsewhere())

    # --- a live conversation ---------------------------------------------------------------

    def capture_start(self, key: str, persona: str = "", recording_path: str | None = None) -> int:
        """Begin storing a conversation under `key` (a recording: turn times are offsets
        into it). Ends one still open under that key first."""
        def start(s: MemoryStore):
            from ..memory.capture import ConversationCapture

            _finish(self._captures.pop(key, None))
            self._captures[key] = ConversationCapture(s, persona=persona,
                                                      recording_path=recording_path)
            return self._captures[key].id
        return self._submit("capture_start", start)

    def capture_turn(self, key: str, turn) -> int:
        """Store a turn the moment it ended (a crash later loses nothing of it)."""
        def add(s: MemoryStore):
            capture = self._captures.get(key)
            return capture.add_turn(turn) if capture is not None else None
        return self._submit("capture_turn", add)

    def capture_finish(self, key: str, recording: bool = False) -> int:
        """The conversation ended: its summary is stored. With `recording` (the key is
        the recording's WAV), first whatever the recording holds that was not stored
        yet: after the engine's last turns, or after it died. Safe to repeat."""
        def finish(s: MemoryStore):
            capture = self._captures.pop(key, None)
            if not recording:
                return _finish(capture)
            from ..memory.capture import ConversationCapture

            if capture is None:  # finished before (a late call), or captured before a restart
                convs = s.conversations_recorded(key)
                if not convs:
                    return None
                capture = ConversationCapture.resume(s, convs[-1])
            return capture.complete(read_recording(key))
        return self._submit("capture_finish", finish)

    def capture_unfinished(self) -> int:
        """Complete the conversations a crash or quit left open, from their recordings.
        Only when no conversation is being captured (at startup)."""
        def complete(s: MemoryStore):
            from ..memory.capture import ConversationCapture

            done = 0
            for conv in s.conversations_recorded(unfinished=True):
                if conv.recording_path in self._captures:
                    continue
                capture = ConversationCapture.resume(s, conv)
                capture.complete(read_recording(conv.recording_path))
                done += 1
            return done
        return self._submit("capture_finish", complete)

    # --- changing ------------------------------------------------------------------------

    def add(self, kind: str, content: str, importance: float = 0.5, pinned: bool = False) -> int:
        """A memory the user typed in. Near-duplicate facts merge into the existing one,
        so the result may be an older memory with a higher version."""

        def add(s: MemoryStore):
            _check(kind, content)
            return s.add(kind, content, importance=_clamp(importance), pinned=pinned,
                         source="user")

        return self._submit("add", add)

    def update(self, memory_id: str, content: str | None = None, kind: str | None = None,
               importance: float | None = None, pinned: bool | None = None) -> int:
        def update(s: MemoryStore):
            if content is not None or kind is not None:
                _check(kind or "semantic", content if content is not None else "x")
            try:
                return s.update(memory_id, content=content, kind=kind, pinned=pinned,
                                importance=None if importance is None else _clamp(importance))
            except KeyError:
                raise ArcusError("This memory no longer exists.",
                                 "It may have been deleted in another window.") from None

        return self._submit("update", update)

    def delete(self, memory_id: str, delete_recording: bool = False) -> int:
        return self._submit("delete", lambda s: s.delete(memory_id, delete_recording))

    def forget_conversation(self, cid: str, delete_recording: bool = False) -> int:
        return self._submit("forget_conversation",
                            lambda s: s.forget_conversation(cid, delete_recording))

    def export_json(self, path: str | os.PathLike) -> int:
        def export(s: MemoryStore):
            try:
                return s.export_json(path), str(path)
            except OSError as e:
                raise ArcusError(f"The memories could not be written to {path} "
                                 f"({e.strerror or e}).",
                                 "Choose a folder you can write to.") from e

        return self._submit("export_json", export)

    def import_json(self, path: str | os.PathLike) -> int:
        return self._submit("import_json", lambda s: s.import_json(path))

    # --- lifetime ------------------------------------------------------------------------

    def shutdown(self, timeout_ms: int = 10_000) -> None:
        """Finish what was asked, close the store on its thread and stop the thread."""
        if self._closed:
            return
        self._closed = True
        self._close.emit()
        if not self._thread.wait(timeout_ms):
            log.error("the memory thread did not stop within %d ms", timeout_ms)

    @property
    def running(self) -> bool:
        return not self._closed

    # --- plumbing ------------------------------------------------------------------------

    def _submit(self, op: str, fn: Callable[[MemoryStore], object]) -> int:
        self._next_id += 1
        rid = self._next_id
        if self._closed:  # still asynchronous, so callers can rely on the id first
            QTimer.singleShot(0, lambda: self.failed.emit(rid, CLOSED_ERROR))
        else:
            self._post.emit(rid, op, fn)
        return rid

    @Slot(int, str, object)
    def _on_done(self, rid: int, op: str, result) -> None:
        if op == "search":
            self.searched.emit(rid, result)
        elif op == "list":
            self.listed.emit(rid, result)
        elif op == "conversation":
            self.conversation_loaded.emit(rid, *result)
        elif op == "export_json":
            result, where = result
            self.exported.emit(result, where)
        elif op == "import_json":
            self.imported.emit(result)
        self.finished.emit(rid, result)
        if op in self._CHANGES or (op == "outside" and result):
            self.changed.emit()

    @Slot(int, str, str)
    def _on_failed(self, rid: int, op: str, text: str) -> None:
        self.failed.emit(rid, text)

    @Slot(object)  # not Slot(list): the `list` method above shadows the builtin here
    def _on_opened(self, notices) -> None:
        self.notices = list(notices)
        if notices:
            self.startup_notices.emit(self.notices)


def read_recording(wav: str) -> dict | None:
    from ..audio.recording import read

    return read(wav)


def _finish(capture) -> object:
    return capture.finish() if capture is not None and not capture.finished else None


def _check(kind: str, content: str) -> None:
    if kind not in KINDS:
        raise ArcusError(f"Unknown kind of memory '{kind}'.", "Choose a fact or a preference.")
    if not content.strip():
        raise ArcusError("A memory needs some text.", "Type what Arcus should remember.")


def _clamp(importance: float) -> float:
    return min(1.0, max(0.0, float(importance)))
