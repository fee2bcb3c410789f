"""Closing the browser with an unsaved edit: ask before it is lost. Quitting the app
(the tray's Quit, a logout, SIGTERM) keeps it without asking: a prompt then would hold
up the quit, and a logout's kill would lose the edit anyway."""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt, QTimer
from PySide6.QtWidgets import QMessageBox

Button = QMessageBox.StandardButton


class QuitWatch(QObject):
    """Notices the application's Quit request. A quit closes every window, and that close
    looks just like closing this one."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.seen = False
        self._watching = False

    def watch(self, on: bool) -> None:
        # Only while an edit is unsaved: a filter on the application sees every event.
        app = QCoreApplication.instance()
        if app is None or on == self._watching:
            return
        self._watching = on
        if on:
            app.installEventFilter(self)
        else:
            app.removeEventFilter(self)

    def take(self) -> bool:
        seen, self.seen = self.seen, False
        return seen

    def eventFilter(self, obj, event) -> bool:
        if event.type() == QEvent.Type.Quit:
            self.seen = True
            # The windows are closed while the Quit is handled; a quit that another window
            # refused must not turn a later close of this one into a quit.
            QTimer.singleShot(0, self, self.take)
        return False


class UnsavedOnClose:
    """Closing for MemoryBrowser (a mixin of it): with an unsaved edit, Save, Discard or
    Cancel, then the window closes; when the app quits, the edit is saved."""

    def _build_closing(self) -> None:
        self.close_prompt: QMessageBox | None = None
        self.quit_watch = QuitWatch(self)
        self.detail.dirty_changed.connect(self.quit_watch.watch)

    def closeEvent(self, event) -> None:
        if self.detail.dirty and self.quit_watch.take():
            self.save()  # the memory thread finishes it before it stops
        elif self.detail.dirty:
            event.ignore()
            self._ask_to_save()
            return
        if self.conversation_dialog is not None:
            self.conversation_dialog.close()
        super().closeEvent(event)

    def _ask_to_save(self) -> None:
        if self.close_prompt is not None:
            self.close_prompt.raise_()
            self.close_prompt.activateWindow()
            return
        content = self.detail.memory.content
        preview = content if len(content) < 120 else content[:117] + "…"
        box = QMessageBox(QMessageBox.Icon.Question, "Unsaved changes",
                          "Save your changes to this memory?",
                          Button.Save | Button.Discard | Button.Cancel, self)
        box.setInformativeText(f"“{preview}”\n\nIf you don't save them, they are lost.")
        box.setDefaultButton(Button.Save)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _r: self._answered(box.standardButton(box.clickedButton())))
        self.close_prompt = box
        box.open()

    def _answered(self, button) -> None:
        self.close_prompt = None
        if button == Button.Save:
            self.save(then=self._close_now)  # a failed save stays open, saying why
        elif button == Button.Discard:
            self.detail.show_memory(self.detail.memory)
            self._close_now()

    def _close_now(self) -> None:
        QTimer.singleShot(0, self, self.close)  # once the prompt is gone
