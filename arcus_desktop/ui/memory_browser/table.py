"""The results table's model."""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, Qt
from PySide6.QtGui import QFont

from .text import full_time, importance_text, kind_text, source_text, when_text


class MemoryTableModel(QAbstractTableModel):
    """Memories in the order the store ranked them; a header click sorts by a column and
    a third click (clearable indicator, column -1) brings the ranking back."""

    HEADERS = ("Kind", "Memory", "When", "Importance", "Source")
    TEXT = 1

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ranked: list = []
        self._rows: list = []
        self._sort = (-1, Qt.SortOrder.AscendingOrder)

    def set_memories(self, memories: list) -> None:
        self.beginResetModel()
        self._ranked = list(memories)
        self._rows = self._sorted()
        self.endResetModel()

    def memory(self, row: int):
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, memory_id: str) -> int:
        return next((i for i, m in enumerate(self._rows) if m.id == memory_id), -1)

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        m = self.memory(index.row())
        if m is None:
            return None
        col = index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            return (kind_text(m), m.content, when_text(m.occurred_at), importance_text(m),
                    source_text(m.source, short=True))[col]
        if role == Qt.ItemDataRole.ToolTipRole:
            return (None, m.content, full_time(m.occurred_at), None, source_text(m.source))[col]
        if role == Qt.ItemDataRole.FontRole and col == 3 and m.pinned:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.UserRole:
            return m
        return None

    def sort(self, column: int, order=Qt.SortOrder.AscendingOrder) -> None:
        self._sort = (column, order)
        self.layoutAboutToBeChanged.emit()
        old = self.persistentIndexList()
        ids = [self._rows[i.row()].id for i in old]
        self._rows = self._sorted()
        place = {m.id: r for r, m in enumerate(self._rows)}
        self.changePersistentIndexList(old, [self.index(place[mid], i.column())
                                             for mid, i in zip(ids, old)])
        self.layoutChanged.emit()

    def _sorted(self) -> list:
        column, order = self._sort
        keys: dict[int, Callable] = {
            0: kind_text, 1: lambda m: m.content.lower(), 2: lambda m: m.occurred_at,
            3: lambda m: (m.pinned, m.importance), 4: lambda m: source_text(m.source, True)}
        if column not in keys:
            return list(self._ranked)
        return sorted(self._ranked, key=keys[column],
                      reverse=order == Qt.SortOrder.DescendingOrder)
