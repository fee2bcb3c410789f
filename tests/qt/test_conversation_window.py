"""The conversation window driven by a scripted engine: buttons and shortcuts reach the
supervisor, engine states and messages show, closing only hides it, and a whole
conversation renders in light and dark palettes (screenshots kept)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from arcus_desktop.core.turns import Backchannel, Turn, TurnEnded
from arcus_desktop.ui.conversation import ASSISTANT, USER, ConversationWindow
from arcus_desktop.ui.conversation.turns import SPOKE

from .conversation_helpers import DARK, LIGHT, palette, pixels, screenshot_dir
from .scripted_conversation import (FRAME_S, ScriptedSupervisor, WithUserText,
                                    conversation_script, play_conversation, play_ending,
                                    play_frames, play_loading)


@pytest.fixture
def window(qtbot):
    window = ConversationWindow()
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


@pytest.fixture
def engine(window):
    engine = ScriptedSupervisor()
    window.attach(engine)
    return engine


def test_mute_and_end_reach_the_supervisor(qtbot, window, engine):
    play_loading(engine)
    conversation = play_conversation(engine, until_frame=10)
    assert window.talking and window.end_button.isEnabled()
    with qtbot.waitSignal(window.mute_toggled) as muted:
        qtbot.mouseClick(window.mute_button, Qt.MouseButton.LeftButton)
    assert muted.args == [True] and engine.calls[-1] == ("mute", True)
    assert window.mute_button.isChecked() and window.mute_button.text() == "Un&mute"
    assert window.waveform.muted
    qtbot.keyClick(window.transcript, Qt.Key.Key_M)  # the M shortcut, from anywhere
    assert engine.calls[-1] == ("mute", False) and not window.mute_button.isChecked()

    with qtbot.waitSignal(window.end_requested):
        qtbot.mouseClick(window.end_button, Qt.MouseButton.LeftButton)
    assert engine.calls[-1] == ("stop_talking",)
    assert engine.calls[0][0] == "talk" and conversation == "conv-1"


def test_escape_ends_the_conversation_then_closes_the_window(qtbot, window, engine):
    play_loading(engine)
    play_conversation(engine, until_frame=5)
    qtbot.keyClick(window.transcript, Qt.Key.Key_Escape)
    assert engine.calls[-1] == ("stop_talking",)
    engine.state_changed.emit("ready", "")
    assert not window.talking and not window.end_button.isEnabled()
    with qtbot.waitSignal(window.closed):
        qtbot.keyClick(window.transcript, Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier)
    assert not window.isVisible()
    assert engine.calls.count(("stop_talking",)) == 1


def test_closing_only_hides_the_window(qtbot, window, engine):
    play_loading(engine)
    play_conversation(engine, until_frame=5)
    with qtbot.waitSignal(window.closed):
        window.close()
    assert not window.isVisible() and engine.calls == [("talk", {"text": "You are a calm helper."})]
    play_frames(engine, conversation_script(), 5, 62)  # it keeps listening, hidden
    assert [t.speaker for t in window.model.turns] == [ASSISTANT, USER]
    window.show()
    assert window.isVisible()


def test_buttons_are_named_and_reachable_by_keyboard(qtbot, window, engine):
    play_loading(engine)
    assert window.talk_button.isVisible() and window.talk_button.isEnabled()
    with qtbot.waitSignal(window.talk_requested):
        qtbot.mouseClick(window.talk_button, Qt.MouseButton.LeftButton)
    play_conversation(engine, until_frame=5)
    assert not window.talk_button.isVisible()
    for widget in (window.transcript, window.mute_button, window.end_button):
        assert widget.accessibleName()
        assert widget.focusPolicy() & Qt.FocusPolicy.TabFocus
    window.transcript.setFocus()
    qtbot.waitUntil(window.transcript.hasFocus)
    qtbot.keyClick(window.transcript, Qt.Key.Key_Tab)
    assert window.mute_button.hasFocus()
    qtbot.keyClick(window.mute_button, Qt.Key.Key_Tab)
    assert window.end_button.hasFocus()
    qtbot.keyClick(window.end_button, Qt.Key.Key_Space)
    assert engine.calls[-1] == ("stop_talking",)


def test_loading_notice_and_failure_show_in_the_window(qtbot, window, engine):
    engine.state_changed.emit("loading", "")
    engine.loading.emit(0.3, "Reading the language model")
    status = window.status
    assert status.progress.isVisible() and "30% — Reading the language model" in \
        status.progress.text()
    assert not window.talk_button.isEnabled() and not window.end_button.isEnabled()
    engine.loading.emit(1.0, "Ready")
    engine.state_changed.emit("ready", "")
    assert status.progress.isHidden() and window.talk_button.isEnabled()
    engine.notice.emit("Echo cancellation is off.", "Use headphones, or turn it on.")
    assert status.message.isVisible() and status.message.kind == "notice"
    assert status.message.hint.text() == "Use headphones, or turn it on."
    engine.failed.emit("The engine stopped: RuntimeError: boom",
                       "It is restarting; details: Traceback (most recent call last):\n"
                       '  File "host.py", line 1\nRuntimeError: boom')
    assert status.message.kind == "error" and status.message.hint.text() == "It is restarting."
    engine.restarted.emit("The engine stopped unexpectedly (exit code 1).")
    assert status.message.kind == "notice" and "goes on" in status.message.hint.text()
    engine.state_changed.emit("failed", "")
    assert "failed" in status.summary.text()


def test_a_resumed_conversation_keeps_its_transcript_a_new_one_starts_fresh(qtbot, window,
                                                                            engine):
    play_loading(engine)
    conversation = play_conversation(engine, until_frame=40)
    assert window.model.rowCount() == 1
    engine.state_changed.emit("ready", "")  # the engine restarted...
    engine.state_changed.emit("talking", conversation)  # ...and picked it up
    assert window.model.rowCount() == 1
    engine.state_changed.emit("talking", "another")
    assert window.model.rowCount() == 0


def test_speech_to_text_and_turn_events_plug_in(qtbot, window):
    engine = WithUserText()
    window.attach(engine)
    engine.state_changed.emit("talking", "c")
    for frame in range(20):
        engine.levels.emit(0.1, 0.0)
    engine.user_text.emit("▁Hello", 0.1)
    engine.user_text.emit("▁there", 0.6)
    assert [(t.speaker, t.text) for t in window.model.turns] == [(USER, "Hello there")]

    engine.turn.emit(TurnEnded(Turn(ASSISTANT, "Hi there.", 2.0, 3.0, True,
                                    [Backchannel(USER, 2.4, 2.7, "mhm")])))
    assert window.model.turns[-1].display_text == "Hi there.\u2014"
    assert [b.label for b in window.model.turns[-1].backchannels] == ["mhm"]
    window.on_turn(ASSISTANT, 4.0, 5.0, "Positional.", False, False)  # plain values work too
    assert window.model.turns[-1].text == "Positional."
    window.detach()
    engine.user_text.emit("▁ignored", 9.0)
    assert "ignored" not in window.model.text()


def test_it_stays_usable_at_its_smallest(qtbot, window, engine):
    window.resize(100, 100)
    assert window.width() >= 320 and window.height() >= 360
    play_loading(engine)
    play_conversation(engine)
    qtbot.waitUntil(lambda: window.transcript.verticalScrollBar().maximum() > 0)
    for widget in (window.waveform, window.transcript, window.mute_button, window.end_button):
        assert widget.isVisible() and widget.height() > 20
        assert widget.geometry().right() <= window.width()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_a_scripted_conversation_in_light_and_dark(qtbot, tmp_path, theme):
    app = QApplication.instance()
    saved = app.palette()
    app.setPalette(palette(LIGHT if theme == "light" else DARK))
    try:
        window = ConversationWindow()
        qtbot.addWidget(window)
        window.engine_mode = "local-gpu"
        window.echo_cancellation = True
        window.resize(440, 600)
        window.show()
        qtbot.waitExposed(window)
        engine = ScriptedSupervisor()
        window.attach(engine)
        folder = screenshot_dir(tmp_path)

        engine.state_changed.emit("loading", "")
        engine.loading.emit(0.62, "Reading the language model")
        QApplication.processEvents()  # let the layout settle, as a running app would
        shots = {"loading": window.grab()}
        play_loading(engine)
        script = conversation_script()
        play_conversation(engine, script)
        turns = window.model.turns
        assert [t.speaker for t in turns] == [ASSISTANT, USER, ASSISTANT, USER, ASSISTANT]
        assert turns[2].interrupted and turns[2].display_text.endswith("\u2014")
        assert [b.label for b in turns[2].backchannels] == ["uh-huh"]
        assert turns[1].display_text == SPOKE and turns[1].duration > 1.5
        assert turns[4].text == "Of course, the weekend works too. Friday or Saturday?"
        assert "ms a frame" in window.status.summary.text()
        qtbot.waitUntil(lambda: window.waveform.animating)
        QApplication.processEvents()
        shots["talking"] = window.grab()
        play_ending(engine)
        assert window.state == "stopped" and window.model.rowCount() == 5
        assert all(t.final for t in turns)
        QApplication.processEvents()
        shots["ended"] = window.grab()
        engine.failed.emit("The microphone stopped delivering audio.",
                           "Check that it is still plugged in, or choose another device.")
        engine.state_changed.emit("failed", "")
        QApplication.processEvents()
        shots["failed"] = window.grab()

        for name, shot in shots.items():
            path = folder / f"conversation-{theme}-{name}.png"
            assert shot.save(str(path)), path
            rgb = pixels(shot.toImage()).astype(float)
            assert rgb.std() > 20, f"{path} looks blank"
        background = pixels(shots["talking"].toImage())[-3, 3].mean()
        assert (background > 128) == (theme == "light")
    finally:
        app.setPalette(saved)


def test_scrolling_up_offers_a_way_back_to_the_latest_words(qtbot, window, engine):
    window.resize(320, 360)
    play_loading(engine)
    play_conversation(engine)
    bar = window.transcript.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0 and bar.value() == bar.maximum())
    assert window.latest_button.isHidden()
    bar.setValue(0)
    assert window.latest_button.isVisible()
    qtbot.mouseClick(window.latest_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bar.value() == bar.maximum())
    assert window.transcript.following and window.latest_button.isHidden()


def test_a_theme_change_while_open_repaints_in_the_new_palette(qtbot):
    app = QApplication.instance()
    saved = app.palette()
    app.setPalette(palette(LIGHT))
    try:
        window = ConversationWindow()
        qtbot.addWidget(window)
        window.show()
        engine = ScriptedSupervisor()
        window.attach(engine)
        play_loading(engine)
        play_conversation(engine, until_frame=60)

        def brightness(widget) -> float:
            return float(pixels(widget.grab().toImage()).mean())

        light = brightness(window.transcript), brightness(window.waveform)
        app.setPalette(palette(DARK))  # the system switched to dark
        qtbot.waitUntil(lambda: brightness(window.transcript) < light[0] / 2)
        assert brightness(window.waveform) < light[1] / 2
    finally:
        app.setPalette(saved)


def test_after_end_no_turn_shows_as_speaking(qtbot, window, engine):
    """The user spoke last (no speech-to-text: a turn without words) and pressed End: that
    turn ended, and reads so at once, while the engine winds down (its last levels still
    come) and after it stopped; in the view, its accessible text and a copy too."""
    from arcus_desktop.ui.conversation.delegate import turn_html

    play_loading(engine)
    script = conversation_script()
    script.user_speaks(script.frames * FRAME_S, script.frames * FRAME_S + 1.6)
    play_conversation(engine, script)
    user = window.model.turns[-1]
    assert user.speaker == USER and user.display_text == "(speaking)"  # still going on

    def speaking() -> list[str]:
        shown = []
        for row, turn in enumerate(window.model.turns):
            index = window.model.index(row)
            shown += [turn.display_text, turn_html(turn, window.palette()),
                      index.data(Qt.ItemDataRole.AccessibleTextRole)]
        shown.append(window.model.text())
        return [s for s in shown if "speaking" in s]

    qtbot.mouseClick(window.end_button, Qt.MouseButton.LeftButton)
    assert engine.calls[-1] == ("stop_talking",)
    assert speaking() == []
    play_frames(engine, script, script.frames - 5, script.frames)  # levels trailing the End
    assert speaking() == []
    engine.state_changed.emit("ready", "")
    assert speaking() == [] and user.final and user.duration > 1.5
    assert user.display_text == "(spoke, no transcript)"
