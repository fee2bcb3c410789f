"""The transcript view follows new words until the user scrolls up, follows again at
the bottom, and copies turns as text."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from arcus_desktop.ui.conversation import ASSISTANT, USER, TranscriptModel, TranscriptView


def make(qtbot) -> tuple[TranscriptModel, TranscriptView]:
    model = TranscriptModel()
    view = TranscriptView(model)
    qtbot.addWidget(view)
    view.resize(320, 240)
    view.show()
    qtbot.waitExposed(view)
    return model, view


class Talk:
    def __init__(self, model: TranscriptModel) -> None:
        self.model, self.time, self.speaker = model, -3.0, ASSISTANT

    def turn(self, speaker: str, words: int = 14) -> None:
        """After a pause, `speaker` says some words: a turn of its own."""
        self.time += 3.0
        self.speaker = speaker
        self.grow(words, "word")

    def grow(self, words: int, stem: str = "more") -> None:
        """The last speaker goes on: its turn grows."""
        add = (self.model.add_assistant_piece if self.speaker == ASSISTANT
               else self.model.add_user_piece)
        for i in range(words):
            add(f"▁{stem}{i}", self.time)
            self.time += 0.2


def at_bottom(view: TranscriptView) -> bool:
    bar = view.verticalScrollBar()
    return bar.maximum() > 0 and bar.value() == bar.maximum()


def test_it_follows_new_words_until_scrolled_up_and_again_at_the_bottom(qtbot):
    model, view = make(qtbot)
    talk = Talk(model)
    for i in range(6):
        talk.turn(USER if i % 2 else ASSISTANT)
    qtbot.waitUntil(lambda: at_bottom(view))
    assert view.following

    bar = view.verticalScrollBar()
    bar.setValue(0)  # the user scrolls up to read
    assert not view.following
    talk.turn(USER)
    talk.grow(30)
    qtbot.waitUntil(lambda: bar.maximum() > 0 and model.rowCount() == 7)
    top = view.indexAt(view.viewport().rect().topLeft())
    assert bar.value() == 0 and top.row() == 0  # left where they were

    bar.setValue(bar.maximum())  # back at the bottom: following again
    assert view.following
    before = bar.maximum()
    talk.grow(40)  # the last turn grows in place, onto more lines
    qtbot.waitUntil(lambda: bar.maximum() > before and at_bottom(view))
    talk.turn(ASSISTANT)
    qtbot.waitUntil(lambda: view.indexAt(view.viewport().rect().bottomLeft()).row() == 7)
    assert at_bottom(view)

    bar.setValue(0)
    view.jump_to_latest()  # the "latest" button
    talk.grow(5)
    qtbot.waitUntil(lambda: at_bottom(view))


def test_copy_puts_turns_on_the_clipboard(qtbot):
    model, view = make(qtbot)
    talk = Talk(model)
    talk.turn(ASSISTANT, words=2)
    talk.turn(USER, words=3)
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)  # nothing selected
    assert QGuiApplication.clipboard().text() == ("Arcus (0:00): word0 word1\n"
                                                  "You (0:03): word0 word1 word2")
    view.setCurrentIndex(model.index(1))
    view.copy_action.trigger()
    assert QGuiApplication.clipboard().text() == "You (0:03): word0 word1 word2"
    view.copy_all_action.trigger()
    assert QGuiApplication.clipboard().text().count("\n") == 1
    assert view.copy_action in view.actions()  # also in the context menu
