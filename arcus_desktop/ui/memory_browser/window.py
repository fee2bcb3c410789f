"""The memory browser window: queries, the selection, messages and lifetime."""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QDate, QEvent, QItemSelectionModel, QModelIndex, Qt
from PySide6.QtWidgets import QFileDialog, QMainWindow, QWidget

from ...bridge.memory_service import MemoryService
from .actions import BrowserActions
from .closing import UnsavedOnClose
from .conversation import ConversationDialog
from .detail import AddMemoryDialog
from .layout import NARROW, BrowserLayout
from .table import MemoryTableModel
from .text import _count
from .widgets import Confirmation

LIST_LIMIT = 200
SEARCH_K = 50


class MemoryBrowser(BrowserLayout, BrowserActions, UnsavedOnClose, QMainWindow):
    """Browse and edit memories through a MemoryService (which this window does not own:
    closing it leaves the service running)."""

    def __init__(self, service: MemoryService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.confirmation: Confirmation | None = None
        self.add_dialog: AddMemoryDialog | None = None
        self.file_dialog: QFileDialog | None = None  # Export… or Import…, while open
        self.conversation_dialog: ConversationDialog | None = None
        self._handlers: dict[int, Callable] = {}
        self._query_id: int | None = None
        self._query_text = ""
        self._select_after: tuple[str | None, int, str] | None = None  # id, row, hidden note
        self._narrow: bool | None = None
        self.setWindowTitle("Memories — Arcus Desktop")
        self.setMinimumSize(360, 320)
        self._build()
        self._build_actions()
        self._build_closing()
        service.searched.connect(self._on_results)
        service.listed.connect(self._on_results)
        service.finished.connect(self._on_finished)
        service.failed.connect(self._on_failed)
        service.changed.connect(self._refresh_soon.start)
        service.startup_notices.connect(self.show_notices)
        if service.notices:
            self.show_notices(service.notices)
        self.resize(980, 600)
        self.refresh()

    # --- queries -----------------------------------------------------------------------

    def filters(self) -> tuple[list[str] | None, float | None, float | None]:
        kind = self.kind_filter.currentData()
        choice = self.date_filter.currentData()
        since = until = None
        if choice == "custom":
            since = self.date_from.date().startOfDay().toSecsSinceEpoch()
            until = self.date_to.date().addDays(1).startOfDay().toSecsSinceEpoch()
        elif choice is not None:
            since = QDate.currentDate().addDays(-choice).startOfDay().toSecsSinceEpoch()
        return ([kind] if kind else None), since, until

    def refresh(self) -> None:
        """Ask for what the search box and filters describe; the answer fills the table."""
        self._search_timer.stop()
        self._refresh_soon.stop()
        text = self.search.text().strip()
        kinds, since, until = self.filters()
        if text:
            self._query_id = self.service.search(text, kinds, since, until, k=SEARCH_K)
        else:
            self._query_id = self.service.list(kinds, since, until, limit=LIST_LIMIT)
        self._query_text = text
        self.count_label.setText("Searching…" if text else "Loading…")

    def _on_results(self, rid: int, memories: list) -> None:
        if rid != self._query_id:  # an older question; a newer answer is on its way
            return
        current = self.detail.memory.id if self.detail.memory else None
        want_id, want_row, hidden_note = self._select_after or (current, -1, "")
        self._select_after = None
        self.model.set_memories(memories)
        text = self._query_text
        if memories:
            self.results.setCurrentWidget(self.table)
            count = _count(len(memories))
            self.count_label.setText(f"{count} for “{text}”, best match first" if text else
                                     f"{count}, pinned first, then newest")
        else:
            self.empty.setText(f"Nothing matches “{text}” with these filters." if text else
                               "No memories here yet. Arcus remembers what you talk about; "
                               "you can also add facts and preferences yourself (Ctrl+N).")
            self.results.setCurrentWidget(self.empty)
            self.count_label.setText("No memories")
        row = self.model.row_of(want_id) if want_id else -1
        if row < 0 and want_row >= 0 and memories:
            row = min(want_row, len(memories) - 1)
        if want_id and self.model.row_of(want_id) < 0 and hidden_note:
            self.statusBar().showMessage(hidden_note, 8000)
        if row < 0 and self._editing(want_id):
            # Off the list now (newer memories came, or it no longer matches): the edit
            # stays in the detail pane, to be saved or reverted.
            self.table.clearSelection()
            self._update_actions()
            self.statusBar().showMessage("The memory you are changing is no longer in the "
                                         "list. Save or revert your changes.", 8000)
            return
        self._select_row(row)

    def _editing(self, memory_id: str | None) -> bool:
        m = self.detail.memory
        return m is not None and m.id == memory_id and self.detail.dirty

    def _select_row(self, row: int) -> None:
        if row < 0:
            self.table.clearSelection()
            self._show(None)
            return
        index = self.model.index(row, MemoryTableModel.TEXT)
        unchanged = self.table.currentIndex().row() == row
        flags = QItemSelectionModel.SelectionFlag
        self.table.selectionModel().setCurrentIndex(index, flags.ClearAndSelect | flags.Rows)
        self.table.scrollTo(index)
        if unchanged:  # no currentRowChanged, but the memory may have new values
            self._show(self.model.memory(row))

    def _selected(self, current: QModelIndex, _previous=None) -> None:
        self._show(self.model.memory(current.row()) if current.isValid() else None)

    def _show(self, m) -> None:
        old = self.detail.memory
        if m is not None and old is not None and m.id == old.id and self.detail.dirty:
            return  # a refresh must not throw away what the user is typing
        if old is not None and (m is None or m.id != old.id) and self.detail.dirty:
            self.statusBar().showMessage("Unsaved changes to the previous memory were dropped.",
                                         5000)
        self.detail.show_memory(m)
        self._update_actions()
        if m is not None and m.conversation_id and self.detail.conversation is None:
            self._ask(self.service.conversation(m.conversation_id),
                      lambda result, mid=m.id: self._conversation_info(mid, *result))

    def _conversation_info(self, memory_id: str, conv, memories: list) -> None:
        if self.detail.memory is not None and self.detail.memory.id == memory_id:
            self.detail.set_conversation(conv, memories)

    def _date_choice(self) -> None:
        self.custom_dates.setVisible(self.date_filter.currentData() == "custom")
        self.refresh()

    def _custom_dates(self) -> None:
        self.date_to.setMinimumDate(self.date_from.date())
        if self.date_filter.currentData() == "custom":
            self.refresh()

    def _focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def eventFilter(self, obj, event) -> bool:
        if obj is self.search and event.type() == QEvent.Type.KeyPress:
            if event.key() == Qt.Key.Key_Escape and self.search.text():
                self.search.clear()
                return True
            if event.key() == Qt.Key.Key_Down and self.model.rowCount():
                self.table.setFocus(Qt.FocusReason.TabFocusReason)
                if not self.table.selectionModel().hasSelection():
                    self._select_row(0)
                return True
        return super().eventFilter(obj, event)

    # --- messages ----------------------------------------------------------------------

    def show_error(self, text: str) -> None:
        self.banner.show_message(text, error=True)
        self.statusBar().showMessage(text, 10000)

    def show_notices(self, notices: list) -> None:
        if notices:
            self.banner.show_message("\n\n".join(notices))

    def _ask(self, rid: int, on_result: Callable) -> int:
        self._handlers[rid] = on_result
        return rid

    def _on_finished(self, rid: int, result) -> None:
        handler = self._handlers.pop(rid, None)
        if handler is not None:
            handler(result)

    def _on_failed(self, rid: int, text: str) -> None:
        ours = self._handlers.pop(rid, None) is not None or rid == self._query_id
        if ours:
            self.show_error(text)

    # --- layout and lifetime -----------------------------------------------------------

    def event(self, event) -> bool:
        # Back in the window: what sync or another process changed meanwhile shows (edits
        # through this service refresh at once, through `changed`).
        if event.type() == QEvent.Type.WindowActivate and self.service.running:
            self.service.check_outside_changes()
        return super().event(event)

    def resizeEvent(self, event) -> None:
        self._arrange(event.size().width() < NARROW)
        super().resizeEvent(event)
