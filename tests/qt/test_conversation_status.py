"""The status line: engine, frame time, real-time warnings, echo cancellation, loading
progress, and notices and errors with their hints but never a traceback."""

from __future__ import annotations

import traceback

from PySide6.QtCore import Qt

from arcus_desktop.core.events import FrameStats
from arcus_desktop.ui.conversation import StatusLine, plain_hint


def make(qtbot) -> StatusLine:
    status = StatusLine()
    qtbot.addWidget(status)
    status.show()
    return status


def stats(rtf=0.5, underruns=0, overruns=0, p50=40.0) -> FrameStats:
    return FrameStats(25, p50, 70.0, rtf, overruns, underruns)


def test_engine_frame_time_and_echo_cancellation(qtbot):
    status = make(qtbot)
    status.set_engine_mode("cpu-offload")
    status.set_echo_cancellation(False)
    status.show_state("talking")
    status.show_stats(stats(p50=41.6))
    assert status.summary.text() == ("In conversation · CPU offload · 42 ms a frame · "
                                     "echo cancellation off")
    status.set_engine_mode("remote")
    status.set_echo_cancellation(True)
    status.show_state("ready")
    assert status.summary.text() == "Ready · Remote server · echo cancellation on"


def test_a_team_servers_round_trip_is_shown_while_talking(qtbot):
    status = make(qtbot)
    status.set_engine_mode("remote")
    status.show_state("talking")
    status.show_stats(FrameStats(25, 21.3, 24.0, 0.27, 0, 0, latency_ms=187.4))
    assert status.summary.text() == "In conversation · Remote server · 21 ms a frame · " \
                                    "187 ms round trip"
    status.show_state("ready")
    assert "round trip" not in status.summary.text()


def test_the_delay_the_audio_path_adds_is_shown_while_talking(qtbot):
    status = make(qtbot)
    status.set_engine_mode("bf16")
    status.show_state("talking")
    status.show_stats(FrameStats(25, 12.4, 14.0, 0.16, 0, 0, added_delay_ms=107.3))
    assert status.summary.text().endswith("12 ms a frame · audio path 107 ms")
    status.show_state("ready")
    assert "audio path" not in status.summary.text()


def test_falling_behind_real_time_warns_until_it_keeps_up(qtbot):
    status = make(qtbot)
    status.show_state("talking")
    status.show_stats(stats(underruns=4800))  # silence before the first stats: a baseline
    assert status.warning_label.isHidden()
    status.show_stats(stats(rtf=1.3, underruns=4800))
    assert status.warning_label.isVisible() and "1.3×" in status.warning_label.text()
    status.show_stats(stats(rtf=0.8, underruns=9600))  # keeps up, but the speaker starved
    assert status.warning == "Audio gaps" and "speaker ran short" in \
        status.warning_label.toolTip()
    status.show_stats(stats(rtf=1.1, underruns=9600, overruns=2))
    assert status.warning == "Falling behind real time (1.1×) · Microphone audio lost"
    status.show_stats(stats(rtf=0.8, underruns=9600, overruns=2))
    assert status.warning_label.isHidden()


def test_loading_progress_shows_fraction_and_what(qtbot):
    status = make(qtbot)
    status.show_state("loading")
    status.show_loading(0.42, "Loading Mimi")
    assert status.progress.isVisible() and status.progress.value() == 420
    assert status.progress.text() == "42% — Loading Mimi"
    status.show_loading(1.0, "Ready")
    status.show_state("ready")
    assert status.progress.isHidden()


def test_a_notice_shows_inline_with_its_hint_and_can_be_dismissed(qtbot):
    status = make(qtbot)
    status.show_notice("The microphone is very quiet.", "Move closer or raise its level.")
    bar = status.message
    assert bar.isVisible() and bar.kind == "notice"
    assert bar.message.text() == "The microphone is very quiet."
    assert bar.hint.text() == "Move closer or raise its level."
    qtbot.mouseClick(bar.close_button, Qt.MouseButton.LeftButton)
    assert bar.isHidden()


def test_an_error_never_shows_a_traceback(qtbot):
    try:
        raise RuntimeError("fault injected at frame 20")
    except RuntimeError as e:  # exactly what engine/host.py sends for an unexpected error
        message = f"The engine stopped: {type(e).__name__}: {e}"
        hint = "It is restarting; details: " + traceback.format_exc(limit=3)
    status = make(qtbot)
    status.show_error(message, hint)
    bar = status.message
    assert bar.isVisible() and bar.kind == "error"
    assert bar.message.text() == message
    assert bar.hint.text() == "It is restarting."
    assert "Traceback" not in bar.accessibleDescription()
    status.show_state("talking")  # working again: the error goes
    assert bar.isHidden()


def test_plain_hint():
    assert plain_hint("Check the model in Settings.") == "Check the model in Settings."
    assert plain_hint("") == ""
    assert plain_hint('Retry.\n  File "/x/engine.py", line 3, in f\n    boom()') == "Retry."
    assert len(plain_hint("x" * 1000)) == 300
