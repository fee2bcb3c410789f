"""Step 2 for a local way: where PersonaPlex's files come from. Downloaded from Hugging
Face (the licence and download pages follow), or "Use model files I already have": a
folder made with `download --model-dir`, copied from a colleague's disk, or brought to a
computer without internet. The folder is checked (bridge/model_folder.py: layout, each
file's structure, the checksums recorded at download) off the GUI thread, and the page
says which files are missing or wrong; Next waits for a good folder."""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QButtonGroup, QFileDialog, QLabel, QLineEdit, QPushButton,
                               QRadioButton, QVBoxLayout, QWizardPage)

from ...bridge import tasks
from ...bridge.model_folder import Cancelled, FolderCheck, check_folder
from ..indicators import visible
from ..settings.common import Message, Note, row
from .computer_page import _indented
from .wizard import DONE, DOWNLOAD, LICENCE


class ModelPage(QWizardPage):
    checked = Signal(object)  # FolderCheck, or None when the check was stopped
    _progress = Signal(str)  # from the checking thread

    def __init__(self) -> None:
        super().__init__()
        self.setTitle("The model")
        self.setSubTitle("PersonaPlex-7B is about 17 GB of files. Download them, or use a "
                         "copy you already have.")
        self.download_radio = visible(QRadioButton("&Download it from Hugging Face"))
        self.folder_radio = visible(QRadioButton("&Use model files I already have"))
        self.group = QButtonGroup(self)
        for radio in (self.download_radio, self.folder_radio):
            self.group.addButton(radio)
            radio.toggled.connect(self._way_changed)
        self.folder = QLineEdit()
        self.folder.setPlaceholderText("The folder that holds model.safetensors")
        self.folder.setClearButtonEnabled(True)
        self.folder.setAccessibleName("Model folder")
        self.folder.textChanged.connect(self._edited)
        self.browse = QPushButton("&Browse…")
        self.browse.clicked.connect(self.browse_folder)
        self.check_button = QPushButton("&Check the files")
        self.check_button.clicked.connect(self.check)
        self.result = Message()
        self.result.setAccessibleName("Model folder check")
        self._progress.connect(self._show_progress)  # queued: emitted by the checking thread
        layout = QVBoxLayout(self)
        layout.addWidget(self.download_radio)
        layout.addWidget(_indented(Note("About 17 GB; needs a free Hugging Face account and "
                                        "an internet connection.")))
        layout.addWidget(self.folder_radio)
        layout.addWidget(_indented(Note(
            "A folder with the model's five files, e.g. one made with “arcus-desktop "
            "download --model-dir”, or copied from another computer. Arcus checks each "
            "file, and its checksum where the download recorded one.")))
        label = QLabel("Model &folder:")
        label.setBuddy(self.folder)
        self.folder_box = _indented(row(label, self.folder, self.browse, self.check_button,
                                        stretch=False))
        layout.addWidget(self.folder_box)
        layout.addWidget(self.result)
        layout.addStretch(1)
        self.task = None
        self.cancel = threading.Event()
        self.good: FolderCheck | None = None  # the last check, when it passed

    # --- the way ------------------------------------------------------------------------

    def initializePage(self) -> None:  # noqa: N802 (Qt's name)
        saved = self.wizard().service.settings.engine.model_dir
        if saved and not self.folder.text():
            self.folder.setText(saved)
        if self.group.checkedButton() is None:
            (self.folder_radio if saved else self.download_radio).setChecked(True)
        self._way_changed()

    def cleanupPage(self) -> None:  # noqa: N802 (Qt's name)
        self.stop()

    def stop(self) -> None:
        self.cancel.set()
        self.check_button.setEnabled(True)

    def use_folder(self) -> bool:
        return self.folder_radio.isChecked()

    def _way_changed(self, *_args) -> None:
        on = self.use_folder()
        self.folder_box.setEnabled(on)
        if not on:
            self.result.clear()
        self.completeChanged.emit()

    def isComplete(self) -> bool:  # noqa: N802 (Qt's name)
        if not self.use_folder():
            return self.download_radio.isChecked()
        return self.good is not None and self.good.folder == self._path()

    def nextId(self) -> int:  # noqa: N802 (Qt's name)
        if self.use_folder():
            return DONE
        computer = self.wizard().computer if self.wizard() else None
        return DOWNLOAD if computer is not None and computer.downloaded else LICENCE

    def validatePage(self) -> bool:  # noqa: N802 (Qt's name)
        choices = self.wizard().choices
        if self.use_folder():
            choices.model_dir = self._path()
            choices.model_folder = True
        else:  # the download page finds or fetches the cached one
            choices.model_dir = None
            choices.model_folder = False
        return True

    # --- the folder ---------------------------------------------------------------------

    def _path(self) -> Path:
        return Path(self.folder.text().strip()).expanduser()

    def _edited(self) -> None:
        self.good = None
        self.stop()
        self.result.clear()
        if self.folder.text().strip() and not self.folder_radio.isChecked():
            self.folder_radio.setChecked(True)
        self.completeChanged.emit()

    def browse_folder(self) -> None:
        start = self.folder.text().strip() or str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Choose the folder that holds "
                                                  "PersonaPlex-7B", start)
        if folder:
            self.folder.setText(folder)
            self.check()

    def check(self) -> None:
        """Check the folder's files and their recorded checksums, off the GUI thread."""
        folder = self.folder.text().strip()
        if not folder:
            self.result.show_text("Choose the folder first (Browse…).", "error")
            return
        self.stop()
        self.good = None
        self.cancel = cancel = threading.Event()
        self.check_button.setEnabled(False)
        self.result.show_text("Checking the files…", "info")
        progress = self._progress.emit

        def report(name: str, done: int, total: int) -> None:
            if not cancel.is_set():
                progress(f"Checking {name}’s checksum: {100 * done // max(total, 1)} %")

        def work():
            try:
                return cancel, check_folder(folder, verify=True, progress=report, cancel=cancel)
            except Cancelled:
                return cancel, None

        self.task = tasks.run(work, self._checked,
                              lambda text: self._checked((cancel, FolderCheck(
                                  Path(folder), [text]))),
                              "checking the model folder")

    def _show_progress(self, text: str) -> None:
        if not self.cancel.is_set():
            self.result.show_text(text, "info")

    def _checked(self, answer: tuple[threading.Event, FolderCheck | None]) -> None:
        cancel, result = answer
        if cancel is not self.cancel or cancel.is_set() or result is None:
            self.checked.emit(None)
            return  # edited or stopped meanwhile
        self.check_button.setEnabled(True)
        self.good = result if result.ok else None
        self.result.show_text(result.text(), "ok" if result.ok else "error")
        self.completeChanged.emit()
        self.checked.emit(result)
