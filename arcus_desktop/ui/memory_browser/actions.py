"""What the browser does when asked: save, add, delete, open or forget a conversation,
export and import."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QStandardPaths, Qt
from PySide6.QtWidgets import QFileDialog

from .conversation import ConversationDialog
from .detail import AddMemoryDialog
from .text import _count, conversation_title, when_text
from .widgets import Confirmation


class BrowserActions:
    """The user's actions on MemoryBrowser (a mixin of it). Each asks the service through
    `_ask` and acts on the answer."""

    def save(self, *, then=None) -> None:
        """Save the edit; `then()` runs once it is saved (not when saving fails)."""
        m, changes = self.detail.memory, self.detail.changes()
        if m is None or not changes:
            if then is not None:
                then()
            return

        def saved(memory) -> None:
            self._saved(memory)
            if then is not None:
                then()

        self._ask(self.service.update(m.id, **changes), saved)
        self.statusBar().showMessage("Saving…")

    def _saved(self, memory) -> None:
        if self.detail.memory is not None and self.detail.memory.id == memory.id:
            self.detail.show_memory(memory)
        self._select_after = (memory.id, -1, "Saved. The memory no longer matches the "
                              "current search or filters.")
        self.statusBar().showMessage("Saved.", 5000)

    def add_memory(self) -> AddMemoryDialog:
        """Opens the add dialog (non-blocking); the memory is added when it is accepted."""
        dialog = AddMemoryDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self._add(*dialog.values()))
        dialog.finished.connect(lambda _r: setattr(self, "add_dialog", None))
        self.add_dialog = dialog
        dialog.open()
        return dialog

    def _add(self, kind: str, content: str, importance: float, pinned: bool) -> None:
        def added(m):
            merged = m.version > 1
            note = ("It said what an existing memory said, so the two were merged."
                    if merged else "Added.")
            self._select_after = (m.id, -1, note + " It is hidden by the current search "
                                  "or filters.")
            self.statusBar().showMessage(note, 6000)

        self._ask(self.service.add(kind, content, importance, pinned), added)

    def delete_selected(self) -> Confirmation | None:
        m = self.detail.memory
        if m is None:
            return None
        row = self.model.row_of(m.id)
        option = ("Also delete the audio recording (kept if other memories still use it)"
                  if m.audio_path else None)

        def deleted(gone: bool) -> None:
            self._select_after = (None, row, "")  # the next one moves up into its place
            self.statusBar().showMessage("Deleted." if gone else "It was already gone.", 5000)

        def delete(with_recording: bool) -> None:
            self._ask(self.service.delete(m.id, with_recording), deleted)

        preview = m.content if len(m.content) < 120 else m.content[:117] + "…"
        return self._confirm("Delete memory", f"Delete this memory for good?\n\n“{preview}”",
                             "&Delete", delete, option)

    def open_conversation(self) -> None:
        m = self.detail.memory
        if m is None or not m.conversation_id:
            return
        cid = m.conversation_id
        self._ask(self.service.conversation(cid),
                  lambda result: self._open_conversation(cid, *result, focus_id=m.id))
        self.statusBar().showMessage("Opening the conversation…")

    def _open_conversation(self, cid: str, conv, memories: list, focus_id: str) -> None:
        if conv is None and not memories:
            self.show_error("That conversation has been forgotten.")
            return
        if self.conversation_dialog is None:
            self.conversation_dialog = ConversationDialog(self)
            self.conversation_dialog.forget_requested.connect(self.forget_conversation)
        self.conversation_dialog.show_conversation(cid, conv, memories, focus_id)
        self.conversation_dialog.show()
        self.conversation_dialog.raise_()
        self.conversation_dialog.activateWindow()
        self.statusBar().clearMessage()

    def forget_conversation(self, cid: str | None = None) -> Confirmation | None:
        """Forget the selected memory's conversation (or the open dialog's, by cid): all
        its memories, and its recording when the box is ticked."""
        dialog = self.conversation_dialog
        if isinstance(cid, str) and dialog is not None and dialog.cid == cid:
            conv, memories, parent = dialog.conversation, dialog.memories, dialog
        else:  # from the detail pane or the menu (clicked/triggered pass a bool)
            m = self.detail.memory
            if m is None or not m.conversation_id:
                return None
            cid, parent = m.conversation_id, self
            conv, memories = self.detail.conversation, [m, *self.detail.conversation_memories]
        title = f"“{conversation_title(conv)}” from {when_text(conv.started_at)}" if conv else \
            "this conversation"
        has_audio = bool(conv and conv.recording_path) or any(x.audio_path for x in memories)
        row = self.model.row_of(self.detail.memory.id) if self.detail.memory else -1

        def forgotten(n: int) -> None:
            self._select_after = (None, row, "")
            self.statusBar().showMessage(f"Forgot the conversation and {_count(n)} from it.", 6000)

        def forget(with_recording: bool) -> None:
            if self.conversation_dialog is not None and self.conversation_dialog.cid == cid:
                self.conversation_dialog.close()
            self._ask(self.service.forget_conversation(cid, with_recording), forgotten)

        return self._confirm(
            "Forget conversation",
            f"Forget {title}? Everything remembered from it (its turns, the facts and "
            "preferences noted in it, its summary) will be deleted for good.",
            "&Forget", forget,
            "Also delete the recording of the conversation" if has_audio else None, parent)

    def choose_export(self) -> QFileDialog:
        """Asks where to export (non-blocking), starting in the user's Documents."""
        dialog = self._file_dialog("Export memories", "Arcus memories (*.json)",
                                   self.export_to)
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setDefaultSuffix("json")
        dialog.selectFile(str(Path(dialog.directory().absolutePath()) / "arcus-memories.json"))
        dialog.open()
        return dialog

    def choose_import(self) -> QFileDialog:
        dialog = self._file_dialog("Import memories", "Arcus memories (*.json);;All files (*)",
                                   self.import_from)
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.open()
        return dialog

    def _file_dialog(self, title: str, filters: str, on_chosen) -> QFileDialog:
        if self.file_dialog is not None:
            self.file_dialog.close()
        # Documents (or home), not the folder the app happened to be started from.
        dialog = QFileDialog(self, title, _documents(), filters)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.fileSelected.connect(on_chosen)
        dialog.finished.connect(lambda _r: setattr(self, "file_dialog", None))
        self.file_dialog = dialog
        return dialog

    def export_to(self, path: str | Path) -> int:
        name = Path(path).name
        self.statusBar().showMessage(f"Exporting to {name}…")
        return self._ask(self.service.export_json(str(path)), lambda n: self.statusBar()
                         .showMessage(f"Exported {n} memories to {name}.", 8000))

    def import_from(self, path: str | Path) -> int:
        name = Path(path).name
        self.statusBar().showMessage(f"Importing {name}…")
        return self._ask(self.service.import_json(str(path)), lambda n: self.statusBar()
                         .showMessage(f"Imported {n} new or newer memories from {name}.", 8000))

    def _confirm(self, title, text, action, on_confirm, option=None, parent=None) -> Confirmation:
        if self.confirmation is not None:
            self.confirmation.close()
        box = Confirmation(parent or self, title, text, action, on_confirm, option)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _r: setattr(self, "confirmation", None))
        self.confirmation = box
        box.open()
        return box


def _documents() -> str:
    folder = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    return folder if folder and Path(folder).is_dir() else str(Path.home())
