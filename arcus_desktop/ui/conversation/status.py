"""The status line under the transcript: what the engine is and how it keeps up, echo
cancellation, the model's loading progress, and notices and errors with their hint.
A problem the user must act on (`show_problem`) has a bar of its own with buttons to
the fix; it stays until the app says it is resolved, whatever the engine says meanwhile.

A hint is shown through `plain_hint` (core/errors.py): never a traceback, never too long."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (QFrame, QHBoxLayout, QLabel, QProgressBar, QPushButton,
                               QSizePolicy, QToolButton, QVBoxLayout, QWidget)

from ...core.errors import plain_hint
from .colors import is_dark, mix

ENGINE_MODES = {
    "local-gpu": "Local GPU",
    "cpu-offload": "CPU offload",
    "low-memory": "Low memory",
    "remote": "Remote server",
}
STATES = {
    "loading": "Loading the model…",
    "ready": "Ready",
    "talking": "In conversation",
    "stopped": "Engine stopped",
    "failed": "Engine failed",
}


def engine_mode_label(mode: str) -> str:
    return ENGINE_MODES.get(mode, mode)


class MessageBar(QFrame):
    """A notice or an error, inline: the message in bold, its hint below, a close button
    for notices (an error stays until the engine is working again). With `actions`
    (label, callable) it has a button for each under the hint, and no close button:
    it is a problem the user resolves with one of them."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("message")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.kind = ""
        self._recoloring = False
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextFormat(Qt.TextFormat.PlainText)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = self.message.font()
        font.setBold(True)
        self.message.setFont(font)
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        self.hint.setTextFormat(Qt.TextFormat.PlainText)
        self.hint.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.close_button = QToolButton()
        self.close_button.setText("✕")
        self.close_button.setAutoRaise(True)
        self.close_button.setAccessibleName("Dismiss message")
        self.close_button.setToolTip("Dismiss")
        self.close_button.clicked.connect(self.dismiss)
        self._buttons: list[QPushButton] = []
        self.actions_row = QHBoxLayout()
        self.actions_row.setContentsMargins(0, 4, 0, 0)
        self.actions_row.addStretch(1)
        texts = QVBoxLayout()
        texts.setContentsMargins(0, 0, 0, 0)
        texts.setSpacing(2)
        texts.addWidget(self.message)
        texts.addWidget(self.hint)
        texts.addLayout(self.actions_row)
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 6, 4, 6)
        row.addLayout(texts, 1)
        row.addWidget(self.close_button, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    def show_message(self, kind: str, message: str, hint: str, actions=()) -> None:
        """kind: "notice" or "error"; actions: (label, callable) for buttons."""
        self.kind = kind
        self._set_actions(actions)
        self.message.setText(message.strip())
        hint = plain_hint(hint)
        self.hint.setText(hint)
        self.hint.setVisible(bool(hint))
        self.setAccessibleName("Error" if kind == "error" else "Notice")
        self.setAccessibleDescription(f"{message} {hint}".strip())
        self._recolor()
        self.show()

    def dismiss(self) -> None:
        self.kind = ""
        self._set_actions(())
        self.hide()

    def action_buttons(self) -> list[QPushButton]:
        return list(self._buttons)

    def _set_actions(self, actions) -> None:
        for button in self._buttons:
            self.actions_row.removeWidget(button)
            button.deleteLater()
        self._buttons = []
        for label, act in actions:
            button = QPushButton(label)
            button.setAccessibleName(label.replace("&", ""))
            button.clicked.connect(act)
            self.actions_row.insertWidget(self.actions_row.count() - 1, button)
            self._buttons.append(button)
        # An error with its fixes stays until resolved; a notice may always be dismissed.
        self.close_button.setVisible(self.kind != "error" or not self._buttons)

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == event.Type.PaletteChange and self.kind and not self._recoloring:
            self._recolor()

    def _recolor(self) -> None:
        """A background tinted towards the highlight (a notice) or red (an error), from
        whatever palette the window has now."""
        self._recoloring = True
        try:
            palette = self.parentWidget().palette() if self.parentWidget() else QPalette()
            base = palette.color(QPalette.ColorRole.Window)
            if self.kind == "error":
                tone = QColor.fromHsl(0, 170, 140 if is_dark(palette) else 110)
            else:
                tone = palette.color(QPalette.ColorRole.Highlight)
            own = QPalette(palette)
            own.setColor(QPalette.ColorRole.Window, mix(base, tone, 0.18))
            self.setPalette(own)
        finally:
            self._recoloring = False


class StatusLine(QWidget):
    """State, engine and timing on one (wrapping) line; loading progress and messages
    under it while there are any."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("status")
        self.engine_mode = ""
        self.echo_cancellation: bool | None = None
        self.state = ""
        self.muted = False
        self.frame_ms: float | None = None
        self.latency_ms: float | None = None  # a team server's round trip
        self.added_delay_ms: float | None = None  # what this computer's audio path adds
        self.warning = ""
        self._underruns: int | None = None
        self._overruns: int | None = None

        self.summary = QLabel()
        self.summary.setObjectName("status-summary")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.summary.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.warning_label = QLabel()
        self.warning_label.setObjectName("status-warning")
        self.warning_label.setWordWrap(True)
        self.warning_label.setTextFormat(Qt.TextFormat.PlainText)
        self.warning_label.hide()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setAccessibleName("Loading progress")
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.problem = MessageBar(self)  # what stops the user, until the app clears it
        self.problem.setObjectName("problem")
        self.message = MessageBar(self)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        for widget in (self.progress, self.problem, self.message, self.summary,
                       self.warning_label):
            layout.addWidget(widget)
        self._refresh()

    # --- what the app sets -------------------------------------------------------------

    def set_engine_mode(self, mode: str) -> None:
        """local-gpu, cpu-offload, low-memory, remote (or any text to show as is)."""
        self.engine_mode = mode
        self._refresh()

    def set_echo_cancellation(self, on: bool | None) -> None:
        self.echo_cancellation = on
        self._refresh()

    def set_muted(self, muted: bool) -> None:
        """While muted the line says so instead of frame figures (a muted microphone's
        frames say nothing about the conversation)."""
        self.muted = bool(muted)
        self._refresh()

    def show_problem(self, message: str, hint: str, actions) -> None:
        """A failure the user must act on, with buttons to the fix: (label, callable)."""
        if self.message.kind == "error" and self.message.message.text() == message.strip():
            self.message.dismiss()  # the engine's own words for it: said once is enough
        self.problem.show_message("error", message, hint, actions)

    def clear_problem(self) -> None:
        self.problem.dismiss()

    # --- what the engine says ----------------------------------------------------------

    def show_state(self, state: str) -> None:
        self.state = state
        if state != "loading":
            self.progress.hide()
        if state == "talking":
            self._underruns = self._overruns = None  # a new part counts from zero
        if state in ("ready", "talking") and self.message.kind == "error":
            self.message.dismiss()  # it works again
        if state not in ("talking",):
            self._set_warning("")
        self._refresh()

    def show_loading(self, fraction: float, what: str) -> None:
        fraction = min(1.0, max(0.0, fraction))
        self.progress.setValue(round(fraction * 1000))
        percent = round(fraction * 100)
        self.progress.setFormat(f"{percent}% — {what}" if what else f"{percent}%")
        self.progress.setAccessibleDescription(self.progress.format())
        self.progress.setVisible(fraction < 1.0)

    def show_stats(self, stats) -> None:
        """FrameStats (core/events.py): frame time, keeping up with real time."""
        self.frame_ms = float(stats.compute_ms_p50)
        self.latency_ms = getattr(stats, "latency_ms", None)
        self.added_delay_ms = getattr(stats, "added_delay_ms", None)
        warnings = []  # (short, for the line; long, for the tooltip)
        if stats.real_time_factor > 1.0:
            warnings.append((f"Falling behind real time ({stats.real_time_factor:.1f}×)",
                             "The engine takes longer than real time for each frame: "
                             "Arcus may sound choppy and answer late."))
        if self._underruns is not None and stats.playback_underruns > self._underruns:
            warnings.append(("Audio gaps", "The speaker ran short of audio: you may hear "
                                           "gaps in Arcus's voice."))
        if self._overruns is not None and stats.capture_overruns > self._overruns:
            warnings.append(("Microphone audio lost", "Some of what the microphone heard "
                                                      "was lost before Arcus could hear it."))
        self._underruns, self._overruns = stats.playback_underruns, stats.capture_overruns
        self._set_warning(" · ".join(w for w, _ in warnings), " ".join(w for _, w in warnings))
        self._refresh()

    def show_notice(self, message: str, hint: str = "", actions=()) -> None:
        """Worth knowing, nothing stopped; actions: (label, callable) for its way forward."""
        self.message.show_message("notice", message, hint, actions)

    def show_error(self, message: str, hint: str = "") -> None:
        if self.problem.kind and self.problem.message.text() == message.strip():
            return  # already shown, with its way forward
        self.message.show_message("error", message, hint)

    # --- inside ------------------------------------------------------------------------

    def _set_warning(self, text: str, details: str = "") -> None:
        self.warning = text
        self.warning_label.setText(f"⚠ {text}" if text else "")
        self.warning_label.setToolTip(details)
        self.warning_label.setAccessibleDescription(details or text)
        self.warning_label.setVisible(bool(text))

    def _refresh(self) -> None:
        parts = []
        if self.state:
            parts.append(STATES.get(self.state, self.state.capitalize()))
        if self.engine_mode:
            parts.append(engine_mode_label(self.engine_mode))
        figures = self.state == "talking" and not self.muted
        if self.state == "talking" and self.muted:
            parts.append("Microphone muted")
        # Under half a millisecond is no model's step (a team server that sends no
        # figures leaves only the client's own bookkeeping): not worth "0 ms".
        if figures and self.frame_ms is not None and self.frame_ms >= 0.5:
            parts.append(f"{self.frame_ms:.0f} ms a frame")
        if figures and self.latency_ms is not None:
            parts.append(f"{self.latency_ms:.0f} ms round trip")
        if figures and self.added_delay_ms is not None:
            parts.append(f"audio path {self.added_delay_ms:.0f} ms")
        if self.echo_cancellation is not None:
            parts.append("echo cancellation " + ("on" if self.echo_cancellation else "off"))
        text = " · ".join(parts)
        self.summary.setText(text)
        self.summary.setAccessibleName("Status")
        self.summary.setAccessibleDescription(text)
