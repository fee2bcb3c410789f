"""The app's state machine between the user's gestures (tray click, menu, hotkey,
`--toggle`) and the engine process.

It is driven by an engine object with EngineSupervisor's signals and methods
(`state_changed`, `loading`, `levels`, `failed`, `notice`, `restarted`; `talk`,
`stop_talking`, `mute`, `shutdown`), so a scripted QObject can stand in for it in tests.
No widgets here: the tray and windows draw what `state` says.

States (what the user sees):

    idle ──talk──► loading ──ready──► talking (listening ⇄ speaking) ⇄ muted
      ▲               │                  │
      └──── end ──────┴──── end ─────────┘        any ──failed──► error ──talk──► loading

`ready` is the engine loaded and waiting; it looks like idle. The engine is started on
the first talk and then kept loaded; a click while it loads starts the conversation as
soon as it is ready. New engine settings start a new engine at once.

`error` is the last failure the user must act on (message, hint). It stays, also when
the engine is ready again after a conversation could not start, until the user tries
again, the engine restarts, or its settings change. Each conversation starts unmuted.
"""

from __future__ import annotations

import logging
from typing import Callable

from PySide6.QtCore import QObject, Signal

log = logging.getLogger(__name__)

IDLE, LOADING, READY, LISTENING, SPEAKING, MUTED, ERROR = (
    "idle", "loading", "ready", "listening", "speaking", "muted", "error")
STATES = (IDLE, LOADING, READY, LISTENING, SPEAKING, MUTED, ERROR)

SPEAKING_LEVEL = 0.02  # the assistant's RMS level (full scale 1.0) that counts as speech
QUIET_FRAMES = 6  # this many quiet level reports (80 ms each) before "listening" again


class AppController(QObject):
    changed = Signal()  # state, loading progress, mute or error changed
    notify = Signal(str, str, bool)  # message, way forward, is_error: tell the user
    talk_requested = Signal()  # the user asked to talk: the conversation window opens
    conversation_started = Signal(str)  # conversation id (recordings, memories)
    conversation_ended = Signal()

    def __init__(self, engine_factory: Callable[[], QObject],
                 persona: Callable[[], dict] = dict, parent: QObject | None = None) -> None:
        """`persona()` gives the engine's `talk` keyword arguments for a new conversation
        (persona, persona_name, sampling, seed), read when it starts."""
        super().__init__(parent)
        self._factory = engine_factory
        self._persona = persona
        self.engine: QObject | None = None
        self.engine_state = "none"  # none, loading, ready, talking, stopped, failed
        self.want_talk = False  # the user asked for a conversation (going on or pending)
        self.conversation: str | None = None  # id of the one we started
        self._announced: str | None = None  # the id conversation_started was sent for
        self.muted = False
        self.speaking = False
        self._quiet = 0
        self.load_fraction = 0.0
        self.load_what = ""
        self.error: tuple[str, str] | None = None  # message, hint
        self.hold_to_talk = False  # hotkey: the microphone is live while the key is held
        self._held = False

    # -- what the user sees ------------------------------------------------------------

    @property
    def state(self) -> str:
        if self.engine_state == "failed":
            return ERROR
        if self.engine_state == "loading":
            return LOADING
        if self.engine_state == "talking":
            if self.muted:
                return MUTED
            return SPEAKING if self.speaking else LISTENING
        if self.engine_state == "ready":
            return LOADING if self.want_talk else READY  # the start is on its way
        return IDLE

    @property
    def talking(self) -> bool:
        """A conversation is going on or about to start (so the gesture now ends it)."""
        return self.want_talk and self.engine_state != "failed"

    # -- gestures ------------------------------------------------------------------------

    def toggle_talk(self) -> bool:
        """Start a conversation, or end the one going on; True if one is now wanted."""
        if self.talking:
            self.end_talk()
        else:
            self.start_talk()
        return self.want_talk

    def start_talk(self) -> None:
        if self.talking:
            return
        self.want_talk = True
        self.error = None
        self.set_muted(False)  # a new conversation hears the user (hold-to-talk mutes after)
        self.talk_requested.emit()
        if self.engine is None or self.engine_state in ("failed", "stopped"):
            self._finish_conversation()  # one that died with the engine
            self._new_engine()  # its "ready" sends the talk
        elif self.engine_state == "ready":
            self._send_talk()
        self.changed.emit()

    def end_talk(self) -> None:
        if not self.want_talk:
            return
        self.want_talk = False
        self._held = False
        if self.engine is not None and self.conversation is not None:
            self.engine.stop_talking()
        self._finish_conversation()
        self.changed.emit()

    def set_muted(self, muted: bool) -> None:
        muted = bool(muted)
        if muted == self.muted:
            return
        self.muted = muted
        if self.engine is not None:
            self.engine.mute(muted)
        self.changed.emit()

    def hotkey_pressed(self) -> None:
        if not self.hold_to_talk:
            self.toggle_talk()
            return
        # Hold to talk: the microphone is live while the key is down. The conversation
        # stays when it is released so the assistant can answer; end it as usual.
        self._held = True
        self.set_muted(False)
        self.start_talk()

    def hotkey_released(self) -> None:
        if self.hold_to_talk and self._held:
            self._held = False
            self.set_muted(True)

    def start_engine(self) -> None:
        """Load the engine without starting a conversation (voice samples need it)."""
        if self.engine is None or self.engine_state in ("failed", "stopped", "none"):
            self.error = None
            self._new_engine()
            self.changed.emit()

    def restart_engine(self) -> None:
        """The engine's settings changed (no conversation is going on): stop its process
        and start one with the new settings now, so that it is ready when the user is.
        A failure it had is gone with it: the new settings may have mended it."""
        if self.talking or self.engine is None:
            return
        self.shutdown()
        self.error = None
        self._new_engine()
        self.changed.emit()

    def shutdown(self) -> None:
        """Stop the engine process (the app is quitting)."""
        engine, self.engine = self.engine, None
        if engine is not None:
            self._disconnect(engine)
            engine.shutdown()

    # -- the engine ----------------------------------------------------------------------

    def _new_engine(self) -> None:
        if self.engine is not None:  # failed or stopped: its process is gone
            self._disconnect(self.engine)
            self.engine.deleteLater()
        self.engine_state = "loading"
        self.load_fraction, self.load_what = 0.0, "Starting the engine"
        self.conversation = None
        engine = self._factory()
        self.engine = engine
        engine.state_changed.connect(self._on_state)
        engine.loading.connect(self._on_loading)
        engine.failed.connect(self._on_failed)
        engine.notice.connect(self._on_notice)
        engine.restarted.connect(self._on_restarted)
        if hasattr(engine, "levels"):
            engine.levels.connect(self._on_levels)
        if self.muted:
            engine.mute(True)

    def _disconnect(self, engine: QObject) -> None:
        for signal, slot in ((engine.state_changed, self._on_state),
                             (engine.loading, self._on_loading),
                             (engine.failed, self._on_failed),
                             (engine.notice, self._on_notice),
                             (engine.restarted, self._on_restarted)):
            try:
                signal.disconnect(slot)
            except (RuntimeError, TypeError):
                pass
        if hasattr(engine, "levels"):
            try:
                engine.levels.disconnect(self._on_levels)
            except (RuntimeError, TypeError):
                pass

    def _send_talk(self) -> None:
        self.conversation = self.engine.talk(**self._persona())

    def _finish_conversation(self) -> None:
        announced = self._announced
        self.conversation = self._announced = None
        if announced is not None:
            self.conversation_ended.emit()
        self.speaking, self._quiet = False, 0

    def _on_state(self, state: str, detail: str) -> None:
        if self.sender() is not None and self.sender() is not self.engine:
            return  # a replaced engine's last words
        previous, self.engine_state = self.engine_state, state
        if state == "loading":
            self.error = None  # a restart after a crash: the notification said why
        elif state == "ready":
            self.speaking, self._quiet = False, 0
            if previous in ("talking", "failed") and self.conversation is not None:
                # The engine ended it (a device gone, a voice file unreadable: `failed`
                # said why); after a crash it is "loading" first and resumes by itself.
                self.want_talk = False
                self._finish_conversation()
            elif self.want_talk and self.conversation is None:
                self._send_talk()
        elif state == "talking":
            # Not wanted: ended while it was starting, and the stop is on its way.
            # The same id again: resumed after an engine restart, nothing new to open.
            conversation = detail or self.conversation or ""
            if self.want_talk and conversation != self._announced:
                self.conversation = self._announced = conversation
                self.conversation_started.emit(conversation)
        elif state in ("stopped", "failed"):
            self.want_talk = False
            self._finish_conversation()
        self.changed.emit()

    def _on_loading(self, fraction: float, what: str) -> None:
        before = (int(self.load_fraction * 100), self.load_what)
        self.load_fraction, self.load_what = float(fraction), what
        if (int(fraction * 100), what) != before:  # whole percents: no repaint per event
            self.changed.emit()

    def _on_levels(self, user: float, assistant: float) -> None:
        if assistant >= SPEAKING_LEVEL:
            self._quiet = 0
            if not self.speaking:
                self.speaking = True
                self.changed.emit()
        elif self.speaking:
            self._quiet += 1
            if self._quiet >= QUIET_FRAMES:
                self.speaking, self._quiet = False, 0
                self.changed.emit()

    def _on_failed(self, message: str, hint: str) -> None:
        log.warning("engine failed: %s %s", message, hint)
        self.engine_state = "failed"
        self.error = (message, hint)
        self.speaking = False
        self.notify.emit(message, hint, True)
        self.changed.emit()

    def _on_notice(self, message: str, hint: str) -> None:
        self.notify.emit(message, hint, False)

    def _on_restarted(self, why: str) -> None:
        self.engine_state = "loading"
        self.load_fraction, self.load_what = 0.0, "Restarting the engine"
        self.notify.emit(why, "Restarting the engine; the conversation goes on where it was."
                         if self.want_talk else "Restarting the engine.", False)
        self.changed.emit()
