"""The conversation window: live waveform, transcript, status line, mute and end.

`attach(supervisor)` connects it to anything with EngineSupervisor's signals (and, when
present, `user_text(piece, time)` and `turn(...)`); the window calls the supervisor's
`mute` and `stop_talking` itself and says so in signals the app may also use. Closing
the window only hides it (`closed` says so); the app lives in the tray and decides.
The app puts a failure the user must act on here with `show_problem` (buttons to the
fix) and takes it away with `clear_problem`. Talk is usable except while the model
loads, and then the loading progress next to it says why."""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QVBoxLayout, QWidget

from .activity import ConversationClock, SpeechGate
from .model import TranscriptModel
from .status import StatusLine
from .turns import ASSISTANT, USER
from .view import TranscriptView
from .waveform import Waveform

log = logging.getLogger(__name__)

# supervisor signal -> this window's slot; the optional ones may be missing
SIGNALS = {
    "state_changed": "on_state_changed", "text": "on_text", "levels": "on_levels",
    "stats": "on_stats", "loading": "on_loading", "notice": "on_notice",
    "failed": "on_failed", "restarted": "on_restarted",
    "user_text": "on_user_text", "turn": "on_turn", "turn_ended": "on_turn",
    "backchannel": "on_backchannel",
}
TURN_FIELDS = ("speaker", "start", "end", "text", "interrupted", "backchannel")
BACKCHANNEL_FIELDS = ("speaker", "start", "end", "text")
WAVEFORM_TALL, WAVEFORM_SMALL = 88, 56  # its height in a window taller / shorter than 480
RESTART_HINT = "Arcus started the engine again; the conversation goes on where it was."


class ConversationWindow(QWidget):
    closed = Signal()  # the user closed the window; it is hidden, nothing else happened
    mute_toggled = Signal(bool)  # the supervisor, when attached, has been told already
    end_requested = Signal()  # likewise: stop_talking() has been called
    talk_requested = Signal()  # the app starts a conversation (it knows the persona)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setWindowTitle("Conversation — Arcus")
        self.setMinimumSize(320, 360)
        self.resize(440, 600)
        self.supervisor = None
        self.state = ""
        self.conversation: str | None = None
        self.ending = False  # End was pressed; the engine has not stopped yet
        self.waiting = False  # a conversation asked for, not started yet (set_waiting)
        # (message, hint) -> [(label, callable)]: the app's ways forward from a notice
        self.notice_actions = None
        self._connections: list[tuple[object, object]] = []
        self.clock = ConversationClock()
        self.gates = {USER: SpeechGate(0.02, 0.01, onset=2),
                      ASSISTANT: SpeechGate(0.01, 0.005, onset=1)}
        self._build()
        self._update_buttons()

    def _build(self) -> None:
        self.waveform = Waveform()
        self.model = TranscriptModel(self)
        self.transcript = TranscriptView(self.model)
        self.status = StatusLine()
        self.latest_button = QPushButton("↓ &Latest")
        self.latest_button.setAccessibleName("Scroll to the latest words")
        self.latest_button.setToolTip("Follow the conversation again")
        self.latest_button.clicked.connect(self.transcript.jump_to_latest)
        self.latest_button.setVisible(False)
        self.transcript.following_changed.connect(lambda f: self.latest_button.setVisible(not f))
        self.mute_button = QPushButton("&Mute")
        self.mute_button.setCheckable(True)
        self.mute_button.setAccessibleName("Mute microphone")
        self.mute_button.setToolTip("Mute or unmute your microphone (M)")
        self.mute_button.toggled.connect(self._mute_changed)
        self.end_button = QPushButton("&End")
        self.end_button.setAccessibleName("End conversation")
        self.end_button.setToolTip("End the conversation (Esc or Ctrl+W)")
        self.end_button.clicked.connect(self.end)
        self.talk_button = QPushButton("&Talk")
        self.talk_button.setAccessibleName("Start a conversation")
        self.talk_button.setToolTip("Start a conversation")
        self.talk_button.clicked.connect(self.talk_requested)

        buttons = QHBoxLayout()
        buttons.addWidget(self.latest_button)
        buttons.addStretch(1)
        for button in (self.mute_button, self.end_button, self.talk_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.setSpacing(8)
        layout.addWidget(self.waveform, 0)
        layout.addWidget(self.transcript, 1)
        layout.addWidget(self.status, 0)
        layout.addLayout(buttons)
        self.setTabOrder(self.transcript, self.mute_button)
        self.setTabOrder(self.mute_button, self.end_button)
        self.setTabOrder(self.end_button, self.talk_button)
        self.setTabOrder(self.talk_button, self.latest_button)

        self.shortcuts = [QShortcut(QKeySequence(Qt.Key.Key_M), self, self.mute_button.toggle)]
        ends = [QKeySequence(Qt.Key.Key_Escape), QKeySequence("Ctrl+W"),
                *QKeySequence.keyBindings(QKeySequence.StandardKey.Close)]  # Ctrl+F4, Cmd+W
        for keys in dict.fromkeys(k.toString() for k in ends):
            self.shortcuts.append(QShortcut(QKeySequence(keys), self, self.end_or_close))
        self.transcript.setFocus()

    # --- what the app sets ---------------------------------------------------------------

    @property
    def engine_mode(self) -> str:
        """local-gpu, cpu-offload, low-memory or remote (shown in the status line)."""
        return self.status.engine_mode

    @engine_mode.setter
    def engine_mode(self, mode: str) -> None:
        self.status.set_engine_mode(mode)

    @property
    def echo_cancellation(self) -> bool | None:
        return self.status.echo_cancellation

    @echo_cancellation.setter
    def echo_cancellation(self, on: bool | None) -> None:
        self.status.set_echo_cancellation(on)

    @property
    def talking(self) -> bool:
        return self.state == "talking"

    def show_problem(self, message: str, hint: str, actions) -> None:
        """A failure that stays until `clear_problem`; actions: (label, callable)."""
        self.status.show_problem(message, hint, actions)

    def clear_problem(self) -> None:
        self.status.clear_problem()

    @property
    def problem(self) -> str:
        """The problem's message while one is shown, else ""."""
        bar = self.status.problem
        return bar.message.text() if bar.kind else ""

    # --- the supervisor --------------------------------------------------------------------

    def attach(self, supervisor) -> None:
        """Follow `supervisor` (EngineSupervisor or anything with its signals)."""
        self.detach()
        self.supervisor = supervisor
        for signal_name, slot_name in SIGNALS.items():
            signal = getattr(supervisor, signal_name, None)
            if signal is None or not hasattr(signal, "connect"):
                continue
            slot = getattr(self, slot_name)
            signal.connect(slot)
            self._connections.append((signal, slot))
        config = getattr(supervisor, "config", None)
        if self.echo_cancellation is None and hasattr(config, "echo_cancellation"):
            self.echo_cancellation = bool(config.echo_cancellation)
        conversation = getattr(supervisor, "conversation", None)
        if isinstance(conversation, str):  # attached in the middle of one
            self.on_state_changed("talking", conversation)
        self._update_buttons()

    def detach(self) -> None:
        for signal, slot in self._connections:
            try:
                signal.disconnect(slot)
            except (RuntimeError, TypeError):  # already gone with its object
                pass
        self._connections = []
        self.supervisor = None
        self._update_buttons()

    # --- what the buttons do ----------------------------------------------------------------

    def set_muted(self, muted: bool) -> None:
        self.mute_button.setChecked(muted)

    def end(self) -> None:
        """End the conversation (or the one still starting: the model loads): the
        supervisor stops talking; `end_requested` is emitted."""
        self.wind_down()
        if self.talking and self.supervisor is not None and \
                hasattr(self.supervisor, "stop_talking"):
            self.supervisor.stop_talking()
        self.end_requested.emit()

    def set_waiting(self, waiting: bool) -> None:
        """A conversation was asked for and has not started (a load can take minutes):
        End cancels it."""
        if waiting != self.waiting:
            self.waiting = waiting
            self._update_buttons()

    def wind_down(self) -> None:
        """The conversation was ended (End, the hotkey, the tray): its turns end now, so
        nobody shows as still speaking while the engine winds down; its last levels make
        no new turn (its last words and turns still come)."""
        if self.talking and not self.ending:
            self.ending = True
            self.model.finish()

    def end_or_close(self) -> None:
        """Esc / Ctrl+W: end the conversation going on (or starting), or else close the
        window."""
        if self.talking or self.waiting:
            self.end()
        else:
            self.close()

    def _mute_changed(self, muted: bool) -> None:
        self.mute_button.setText("Un&mute" if muted else "&Mute")
        self.mute_button.setAccessibleDescription("Microphone muted" if muted
                                                  else "Microphone on")
        self.waveform.set_muted(muted)
        self.status.set_muted(muted)
        if self.supervisor is not None and hasattr(self.supervisor, "mute"):
            self.supervisor.mute(muted)
        self.mute_toggled.emit(muted)

    def _update_buttons(self) -> None:
        self.end_button.setEnabled(self.talking or self.waiting)
        self.end_button.setToolTip("End the conversation" if self.talking or not self.waiting
                                   else "Do not start the conversation")
        self.talk_button.setVisible(not self.talking)
        # Only a load going on keeps Talk off, and the status line shows that load; after
        # a failure, or with no engine yet, Talk is how the user tries (again).
        loading = self.state == "loading"
        self.talk_button.setEnabled(not loading)
        self.talk_button.setToolTip("Talk is possible once the model has loaded" if loading
                                    else "Start a conversation")

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        # Small windows give the transcript the room; the waveform reads fine at 56 px.
        self.waveform.setFixedHeight(WAVEFORM_SMALL if self.height() < 480 else WAVEFORM_TALL)

    def closeEvent(self, event) -> None:
        super().closeEvent(event)  # accepted: the window hides, nothing is destroyed
        self.closed.emit()

    # --- what the engine says ---------------------------------------------------------------

    def on_state_changed(self, state: str, detail: str = "") -> None:
        if state == "talking" and detail != self.conversation:
            self.new_conversation(detail)
        elif self.talking and state != "talking":
            self.model.finish()
        if state != "talking":
            self.ending = False
        self.state = state
        self.status.show_state(state)
        self._update_buttons()

    def new_conversation(self, conversation: str | None) -> None:
        """Start a fresh transcript (a resumed conversation keeps its own)."""
        self.conversation = conversation
        self.ending = False
        self.model.clear()
        self.waveform.clear()
        self.clock.reset()
        for gate in self.gates.values():
            gate.reset()

    def on_text(self, piece: str, time: float) -> None:
        self.clock.seen(time)
        self.model.add_assistant_piece(piece, time)

    def on_user_text(self, piece: str, time: float) -> None:
        self.model.add_user_piece(piece, time)

    def on_levels(self, user: float, assistant: float) -> None:
        if self.mute_button.isChecked():
            user = 0.0
        self.waveform.push(user, assistant)
        if not self.talking or self.ending:
            # Levels may trail the end (they wait behind every other event): the turns
            # are final by then, and a late level would start one that is not there.
            return
        time = self.clock.frame()
        for speaker, level in ((USER, user), (ASSISTANT, assistant)):
            for voiced in self.gates[speaker].update(level, time):
                self.model.voice(speaker, voiced)
        self.model.tick(time)

    def on_stats(self, stats) -> None:
        self.status.show_stats(stats)

    def on_loading(self, fraction: float, what: str) -> None:
        if not self.state:
            self.on_state_changed("loading")
        self.status.show_loading(fraction, what)

    def on_notice(self, message: str, hint: str = "") -> None:
        actions = self.notice_actions(message, hint) if self.notice_actions else ()
        self.status.show_notice(message, hint, actions)

    def on_failed(self, message: str, hint: str = "") -> None:
        self.status.show_error(message, hint)

    def on_restarted(self, why: str) -> None:
        self.status.show_notice(why, RESTART_HINT)

    def on_turn(self, *args) -> None:
        """A finished turn: an object with speaker, start, end, text, interrupted and,
        optionally, backchannel (a flag) or backchannels (the other side's, each with
        speaker, start, end, text); or one wrapping it as `.turn`; or those values in
        the order of TURN_FIELDS. A turn that has only started (no end) is left to the
        live transcript."""
        values = _fields(args, TURN_FIELDS)
        if values is None or values.get("end") is None:
            return
        try:
            self.model.add_turn(str(values["speaker"]), float(values["start"]),
                                float(values["end"]), values.get("text") or "",
                                bool(values.get("interrupted")), bool(values.get("backchannel")))
        except (KeyError, TypeError, ValueError):
            log.warning("a turn event the window cannot read: %r", args)
            return
        for mark in values.get("backchannels") or ():
            self.on_backchannel(mark)

    def on_backchannel(self, *args) -> None:
        """The other side's "uh-huh": an object with speaker, start, end, text, or
        those values in that order."""
        values = _fields(args, BACKCHANNEL_FIELDS)
        try:
            start = float(values["start"])
            end = float(values.get("end") if values.get("end") is not None else start)
            self.model.add_turn(str(values["speaker"]), start, end, values.get("text") or "",
                                backchannel=True)
        except (KeyError, TypeError, ValueError):
            log.warning("a backchannel event the window cannot read: %r", args)


def _fields(args: tuple, names: tuple[str, ...]) -> dict | None:
    if len(args) == 1 and not isinstance(args[0], (str, bytes)):
        event = getattr(args[0], "turn", args[0])  # TurnEnded(turn=Turn(...))
        return {n: getattr(event, n, None) for n in (*names, "backchannels")}
    return dict(zip(names, args)) if args else None
