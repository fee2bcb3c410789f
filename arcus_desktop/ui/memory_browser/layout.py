"""The browser window's widgets, menus and narrow/wide arrangement."""

from __future__ import annotations

from PySide6.QtCore import QDate, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence, QPalette
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDateEdit, QGridLayout, QHeaderView,
                               QLabel, QLineEdit, QSplitter, QStackedWidget, QTableView,
                               QVBoxLayout, QWidget)

from .detail import DetailPane
from .table import MemoryTableModel
from .widgets import Banner, _row

SEARCH_DELAY_MS = 250  # typing pauses shorter than this do not start a search
NARROW = 760  # below this width the detail pane goes under the table

KIND_FILTERS = [("All kinds", None), ("Conversation turns", "episodic"), ("Facts", "semantic"),
                ("Preferences", "procedural")]
DATE_FILTERS = [("Any time", None), ("Today", 0), ("Last 7 days", 6), ("Last 30 days", 29),
                ("Custom range…", "custom")]


class BrowserLayout:
    """Builds MemoryBrowser (a mixin of it): every widget and action it creates becomes
    an attribute of the window."""

    def _build(self) -> None:
        self.banner = Banner()
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search memories (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.search.setAccessibleName("Search memories")
        self.search.installEventFilter(self)
        search_label = QLabel("Searc&h:")
        search_label.setBuddy(self.search)
        self.kind_filter = QComboBox()
        self.kind_filter.setAccessibleName("Kind of memory")
        for name, kind in KIND_FILTERS:
            self.kind_filter.addItem(name, kind)
        self.date_filter = QComboBox()
        self.date_filter.setAccessibleName("When")
        for name, days in DATE_FILTERS:
            self.date_filter.addItem(name, days)
        self.date_from, self.date_to = QDateEdit(), QDateEdit()
        for edit, name in ((self.date_from, "From"), (self.date_to, "To")):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("d MMM yyyy")
            edit.setAccessibleName(f"{name} date")
        self.date_to.setDate(QDate.currentDate())
        self.date_from.setDate(QDate.currentDate().addDays(-30))
        from_label, to_label = QLabel("Fr&om:"), QLabel("&To:")
        from_label.setBuddy(self.date_from)
        to_label.setBuddy(self.date_to)
        self.custom_dates = QWidget()
        self.custom_dates.setLayout(_row(from_label, self.date_from, to_label, self.date_to, None))
        self.custom_dates.hide()

        self.model = MemoryTableModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setAccessibleName("Memories")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSortIndicatorClearable(True)
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.table.setSortingEnabled(True)
        header.setHighlightSections(False)
        for col in range(self.model.columnCount()):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(MemoryTableModel.TEXT, QHeaderView.ResizeMode.Stretch)
        self.empty = QLabel()
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.empty.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.results = QStackedWidget()
        self.results.addWidget(self.table)
        self.results.addWidget(self.empty)

        self.detail = DetailPane()
        self.splitter = QSplitter()
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self.results)
        self.splitter.addWidget(self.detail)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setSizes([600, 380])

        body = QWidget()
        box = QVBoxLayout(body)
        box.addWidget(self.banner)
        self.filter_grid = QGridLayout()
        self.filter_grid.addWidget(search_label, 0, 0)
        self.filter_grid.addWidget(self.search, 0, 1)
        self.filter_grid.setColumnStretch(1, 1)
        self.filter_box = QWidget()
        self.filter_box.setLayout(_row(self.kind_filter, self.date_filter, None))
        box.addLayout(self.filter_grid)
        box.addWidget(self.custom_dates)
        box.addWidget(self.splitter, 1)
        self.setCentralWidget(body)
        self._arrange(False)
        self.setTabOrder(self.search, self.kind_filter)
        self.setTabOrder(self.kind_filter, self.date_filter)
        self.setTabOrder(self.date_filter, self.date_from)
        self.setTabOrder(self.date_from, self.date_to)
        self.setTabOrder(self.date_to, self.table)

        self._search_timer = QTimer(self, singleShot=True, interval=SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self.refresh)
        self._refresh_soon = QTimer(self, singleShot=True, interval=0)  # one refresh per burst
        self._refresh_soon.timeout.connect(self.refresh)
        self.search.textChanged.connect(self._search_timer.start)
        self.search.returnPressed.connect(self.refresh)
        self.kind_filter.currentIndexChanged.connect(self.refresh)
        self.date_filter.currentIndexChanged.connect(self._date_choice)
        self.date_from.dateChanged.connect(self._custom_dates)
        self.date_to.dateChanged.connect(self._custom_dates)
        self.table.selectionModel().currentRowChanged.connect(self._selected)
        self.detail.save.clicked.connect(self.save)
        self.detail.delete.clicked.connect(self.delete_selected)
        self.detail.open_conversation.clicked.connect(self.open_conversation)
        self.detail.forget_conversation.clicked.connect(self.forget_conversation)
        self.count_label = QLabel()  # what the table holds; showMessage() is for events
        self.count_label.setAccessibleName("Result count")
        self.statusBar().addPermanentWidget(self.count_label)
        self.statusBar().setSizeGripEnabled(True)

    def _build_actions(self) -> None:
        def action(menu, text, slot, shortcut=None, widget=None):
            a = QAction(text, self)
            if shortcut:
                a.setShortcut(QKeySequence(shortcut))
            a.triggered.connect(slot)
            menu.addAction(a)
            (widget or self).addAction(a)
            return a

        file_menu = self.menuBar().addMenu("&File")
        self.import_action = action(file_menu, "&Import…", self.choose_import, "Ctrl+I")
        self.export_action = action(file_menu, "&Export…", self.choose_export, "Ctrl+E")
        file_menu.addSeparator()
        action(file_menu, "&Close", self.close, QKeySequence.StandardKey.Close)
        memory_menu = self.menuBar().addMenu("&Memory")
        self.add_action = action(memory_menu, "&Add memory…", self.add_memory, "Ctrl+N")
        self.save_action = action(memory_menu, "&Save changes", self.save, "Ctrl+S")
        action(memory_menu, "&Revert changes", self.detail.revert.click)
        self.delete_action = action(memory_menu, "&Delete…", self.delete_selected,
                                    QKeySequence.StandardKey.Delete, self.table)
        self.delete_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        memory_menu.addSeparator()
        self.open_action = action(memory_menu, "&Open conversation…", self.open_conversation,
                                  "Ctrl+O")
        self.forget_action = action(memory_menu, "&Forget conversation…",
                                    self.forget_conversation)
        view_menu = self.menuBar().addMenu("&View")
        action(view_menu, "&Find", self._focus_search, QKeySequence.StandardKey.Find)
        action(view_menu, "&Refresh", self.refresh, QKeySequence.StandardKey.Refresh)
        toolbar = self.addToolBar("Memory actions")
        toolbar.setObjectName("memory-actions")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        for a in (self.add_action, self.import_action, self.export_action):
            toolbar.addAction(a)
        self._update_actions()
        self.detail.dirty_changed.connect(lambda _d: self._update_actions())

    def _update_actions(self) -> None:
        m = self.detail.memory
        self.save_action.setEnabled(self.detail.dirty)
        self.delete_action.setEnabled(m is not None)
        self.open_action.setEnabled(bool(m and m.conversation_id))
        self.forget_action.setEnabled(bool(m and m.conversation_id))

    def _arrange(self, narrow: bool) -> None:
        """Narrow windows stack the detail under the table, put the filters on a line of
        their own and leave the importance and source columns to the detail pane."""
        if narrow == self._narrow:
            return
        self._narrow = narrow
        self.splitter.setOrientation(Qt.Orientation.Vertical if narrow
                                     else Qt.Orientation.Horizontal)
        self.filter_grid.removeWidget(self.filter_box)
        self.filter_grid.addWidget(self.filter_box, *((1, 1) if narrow else (0, 2)))
        for column in (3, 4):
            self.table.setColumnHidden(column, narrow)
