"""The app's conversation side: the conversation window, the settings each conversation
starts with, and memory both ways.

- Settings: the engine process is started with the audio devices, echo cancellation
  and mode they name; each conversation with their persona, voice and sampling.
  Other devices are switched to in place; other changes to the engine's settings
  restart it when no conversation is going on (at the end of the current one otherwise).
- Failures: the one the user must act on (the controller's `error`) stays in the
  conversation window with buttons to the fix (`ways_forward`) until it is resolved;
  the window follows each engine from its start, so it shows its loading and failure.
- Memory (when on): the persona for the next conversation, with the memories it would
  recall, is prepared in the background whenever it may have changed, so starting to
  talk never waits on the database; the live turns are stored the moment they end.
  A recording's capture is completed when the engine says it is over (after its last
  turns, which come after End), or when its process died, from what the recording
  holds; captures a quit or crash of the app left open are completed at the next start.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, replace

from PySide6.QtCore import QObject, QTimer, Signal

from ..bridge import tasks
from ..bridge.controller import AppController
from ..bridge.engine_config import (HostConfig, RemoteConfig, apply_elsewhere,
                                    damaged_settings_files, host_config, start_at_login)
from ..bridge.settings_store import AppSettings, SettingsService
from ..core import modes
from ..core.turns import TurnEnded
from .conversation import ConversationWindow

log = logging.getLogger(__name__)
FLUSH_WAIT_MS = 30_000  # an engine that never says its recording ended: finish it anyway


GET_SPEECH = "Get &speech-to-text…"
MEMORY_FAILED = "Memory could not keep what was said in this conversation."
MEMORY_HINT = "Memories live in the data folder: check its disk in Settings > Data."
SETUP_WORDS = ("model is not installed", "model folder", "cuda gpu", "no gpu",
               "team server is the way", "run setup")
# What is set in Settings: the voice, devices, the team server and its token.
SETTINGS_WORDS = ("settings", "voice", "recording", "audio file", "microphone", "speaker",
                  "device", "team server", "token", "certificate", "address")


def ways_forward(message: str, hint: str) -> list[str]:
    """The buttons a failure gets, by what its words point to: setup for a missing model
    or GPU, Settings for what its hint says to change there; and always another try."""
    words = f"{message} {hint}".lower()
    ways = []
    if any(w in words for w in SETUP_WORDS):
        ways.append("Run setup")
    if any(w in words for w in SETTINGS_WORDS):
        ways.append("Open Settings")
    ways.append("Try again")
    return ways


def _without_devices(config: HostConfig | RemoteConfig) -> HostConfig | RemoteConfig:
    return replace(config, input_device=None, output_device=None)


class Session(QObject):
    settings_requested = Signal()  # a problem's "Open Settings"
    speech_to_text_requested = Signal()  # a notice's "Get speech-to-text…"
    setup_requested = Signal()  # a problem's "Run setup"

    def __init__(self, controller: AppController, settings: SettingsService,
                 memory=None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.settings = settings
        self.memory = memory  # a MemoryService, or None
        self.window = ConversationWindow()
        self.window.engine_mode = modes.status(settings.settings.engine.mode)
        self.window.end_requested.connect(controller.end_talk)
        self.window.mute_toggled.connect(controller.set_muted)
        self.window.talk_requested.connect(controller.start_talk)
        self.window.notice_actions = self._notice_actions
        controller.talk_requested.connect(self.show)
        controller.conversation_started.connect(lambda _id: self._follow(controller.engine))
        # As soon as there is an engine: its recording starts right after "talking",
        # before the GUI thread may have heard that the conversation started.
        controller.changed.connect(self._controller_changed)
        controller.conversation_ended.connect(self._conversation_ended)
        settings.changed.connect(self._settings_changed)
        # Once the tray and the status window listen: a failure here must reach them.
        QTimer.singleShot(0, self, self._started)
        self._followed = None  # the engine the window and volume follow
        self._watched = None  # the engine whose recording and turns go into memory
        self._capture: str | None = None  # the recording whose turns go into memory now
        self._open: set[str] = set()  # recordings captured and not completed yet
        self._unrecorded: set[str] = set()  # those of them that are only keys, no WAV
        self._capture_ids: set[int] = set()  # memory requests for the conversation going on
        self._memory_told = ""  # the failure already shown for it
        if memory is not None:
            memory.failed.connect(self._memory_failed)
            memory.finished.connect(lambda rid, _result: self._capture_ids.discard(rid))
        self._tokenizer = None
        self._persona_text: str | None = None  # the persona with recalled memories
        self._restart_engine = False
        self._problem: tuple[str, str] | None = None  # the one the window shows
        self.prepare_persona()
        if memory is not None:
            memory.capture_unfinished()  # left open by a quit or crash of the app

    # -- what the controller asks for -------------------------------------------------------

    def talk_request(self) -> dict:
        """`talk`'s keyword arguments for the conversation starting now."""
        s = self.settings.settings
        persona = s.to_persona()
        if s.memory.enabled and self._persona_text:
            persona = replace(persona, text=self._persona_text)
        sampling = s.sampling
        return {"persona": asdict(persona), "persona_name": s.persona.preset,
                "sampling": {"temperature": sampling.audio_temperature,
                             "top_k": sampling.audio_top_k,
                             "text_temperature": sampling.text_temperature,
                             "text_top_k": sampling.text_top_k},
                "seed": sampling.seed}

    def host_config(self) -> HostConfig | RemoteConfig:
        return host_config(self.settings.settings)

    def show(self) -> None:
        if self.controller.engine is not None and self.window.supervisor is not self.controller.engine:
            self.window.attach(self.controller.engine)
        self.window.showNormal()
        self.window.raise_()
        self.window.activateWindow()

    # -- memory ---------------------------------------------------------------------------

    def prepare_persona(self) -> None:
        """Recall for the next conversation, in the background."""
        s = self.settings.settings
        if self.memory is None or not s.memory.enabled:
            self._persona_text = None
            return
        if self._tokenizer is None:
            from ..bridge.model_info import read_model_info

            folder = s.engine.model_folder
            tasks.run(lambda: read_model_info(folder), self._got_model_info,
                      what="reading the model")
            return
        rid = self.memory.persona_context(s.persona.text, self._tokenizer,
                                          s.persona.token_budget, items=s.memory.items)

        def done(request: int, context) -> None:
            if request == rid:
                self.memory.finished.disconnect(done)
                self._persona_text = context.text
        self.memory.finished.connect(done)

    def _got_model_info(self, info) -> None:
        if info.tokenizer is None:  # no model yet: nothing to count tokens with
            return
        self._tokenizer = info.tokenizer
        self.prepare_persona()

    def _controller_changed(self) -> None:
        c = self.controller
        if self._restart_engine and not c.talking and c.conversation is None:
            # Ended before it began (End while loading): no conversation_ended comes to
            # apply the engine settings changed meanwhile.
            self._restart_engine = False
            c.restart_engine()
        self._watch(c.engine)
        self._follow(c.engine)
        self.window.set_waiting(c.talking and c.conversation is None)
        if self.window.mute_button.isChecked() != c.muted:
            self.window.set_muted(c.muted)
        if c.error != self._problem:
            self._problem = c.error
            if c.error is None:
                self.window.clear_problem()
            else:
                message, hint = c.error
                self.window.show_problem(message, hint, [
                    (label, self._act(label)) for label in ways_forward(message, hint)])

    def _notice_actions(self, message: str, hint: str) -> list:
        """A missing speech-to-text model is this computer's to add (a team server's own
        is its owner's): a button to where Settings downloads it."""
        if "no speech-to-text model" in message.lower() and \
                self.settings.settings.engine.mode != modes.SERVER:
            return [(GET_SPEECH, self.speech_to_text_requested.emit)]
        if message == MEMORY_FAILED:
            return [("Open Settings", self.settings_requested.emit)]
        return []

    def speech_to_text_installed(self) -> None:
        """Downloaded from Settings: the next engine loads it (now, or after the
        conversation going on)."""
        if self.settings.settings.engine.mode == modes.SERVER:
            return
        if self.controller.talking:
            self._restart_engine = True
        else:
            self.controller.restart_engine()

    def _act(self, label: str):
        return {"Run setup": self.setup_requested.emit,
                "Open Settings": self.settings_requested.emit,
                "Try again": self.controller.start_talk}[label]

    def _follow(self, engine) -> None:
        """Show `engine` in the window from its start: its loading, failures, talk."""
        if engine is None or engine is self._followed:
            return
        self._followed = engine
        self._watch(engine)
        if self.window.supervisor is not engine:
            self.window.attach(engine)
            if self.controller.engine_state == "loading" and not self.window.talking:
                self.window.on_state_changed("loading")  # until the engine says more
        if hasattr(engine, "set_volume"):
            engine.set_volume(self.settings.settings.audio.volume / 100)

    def _watch(self, engine) -> None:
        if engine is None or engine is self._watched:
            return
        self._watched = engine
        if hasattr(engine, "recording"):
            engine.recording.connect(self._recording)
            engine.turn.connect(self._turn)
        if hasattr(engine, "unrecorded"):
            engine.unrecorded.connect(self._unrecorded_part)
        if hasattr(engine, "recording_ended"):
            engine.recording_ended.connect(self._recording_ended)

    def _recording(self, path: str, recorded: bool = True) -> None:
        """A part of a conversation begins: its WAV, or a key when it is not recorded."""
        if self.memory is None or not self.settings.settings.memory.enabled:
            return
        if not hasattr(self._watched, "recording_ended"):
            self._end_capture()  # an engine that does not say: a new recording ends it
        self._capture = path
        self._open.add(path)
        if not recorded:
            self._unrecorded.add(path)
        self._memory_told = ""
        self._capture_ids.add(self.memory.capture_start(
            path, self.settings.settings.persona.text, path if recorded else None))

    def _unrecorded_part(self, key: str) -> None:
        self._recording(key, recorded=False)

    def _turn(self, event) -> None:
        if self._capture is not None and isinstance(event, TurnEnded):
            self._capture_ids.add(self.memory.capture_turn(self._capture, event.turn))

    def _memory_failed(self, rid: int, text: str) -> None:
        """Memory could not keep what is being said: the window says so (once), while
        the conversation goes on; the words stay in the recording, if there is one."""
        if rid not in self._capture_ids:
            return  # another window's request: it shows its own failures
        self._capture_ids.discard(rid)
        if text != self._memory_told:
            self._memory_told = text
            self.window.on_notice(MEMORY_FAILED, f"{text} {MEMORY_HINT}")

    def _recording_ended(self, path: str) -> None:
        """Its last turns are in: complete it with what the recording holds (again, if
        the wait below already did: only what is new is added)."""
        if self.memory is None:
            return
        self._open.discard(path)
        if self._capture == path:
            self._capture = None
        recorded = path not in self._unrecorded
        self._unrecorded.discard(path)
        self._capture_ids.add(self.memory.capture_finish(path, recording=recorded))
        self.prepare_persona()  # what was said last may be what the next one recalls

    def _end_capture(self) -> None:
        for path in list(self._open):
            self._recording_ended(path)

    def _conversation_ended(self) -> None:
        self.window.wind_down()  # ended by the hotkey or the tray as well as by End
        if hasattr(self._watched, "recording_ended"):
            # The engine's last turns are still on their way: wait for them, bounded.
            waiting = set(self._open)
            QTimer.singleShot(FLUSH_WAIT_MS, self, lambda: [
                self._recording_ended(p) for p in waiting if p in self._open])
        else:
            self._end_capture()
        self.prepare_persona()  # the conversation just held may change what is recalled
        if self._restart_engine:
            self._restart_engine = False
            self.controller.restart_engine()

    # -- settings -------------------------------------------------------------------------

    def _started(self) -> None:
        self._apply_elsewhere(self.settings.settings)
        for message, hint in damaged_settings_files():  # sync.json, recording.json
            self.controller.notify.emit(message, hint, False)

    def _apply_elsewhere(self, s: AppSettings) -> None:
        """The settings other parts keep in their own files or in the system."""
        try:
            apply_elsewhere(s)
        except OSError as e:
            log.warning("settings not applied: %s", e)
            where = e.filename or "the data folder"
            self.controller.notify.emit("Some settings could not be saved.",
                                        f"{where} could not be written ({e.strerror}): check "
                                        "that folder's permissions and free space, then "
                                        "set them again in Settings.", True)
            self._settings_as_they_are(s)

    def _settings_as_they_are(self, s: AppSettings) -> None:
        """A start-at-login the system did not take is not shown as on."""
        on = start_at_login()
        if on != s.data.start_at_login:
            fixed = self.settings.settings
            fixed.data.start_at_login = on
            self.settings.apply(fixed)

    def _settings_changed(self, new: AppSettings, old: AppSettings) -> None:
        self._apply_elsewhere(new)
        engine = self.controller.engine
        if new.audio.volume != old.audio.volume and hasattr(engine, "set_volume"):
            engine.set_volume(new.audio.volume / 100)
        self.window.engine_mode = modes.status(new.engine.mode)
        self.window.echo_cancellation = new.audio.echo_cancellation
        devices = (new.audio.input_device or None, new.audio.output_device or None)
        if devices != (old.audio.input_device or None, old.audio.output_device or None) and \
                hasattr(engine, "set_devices"):
            engine.set_devices(*devices)  # switched in place, mid-conversation too
        if _without_devices(host_config(new)) != _without_devices(host_config(old)):
            if self.controller.talking:
                self._restart_engine = True
            else:
                self.controller.restart_engine()
        if (new.persona, new.memory) != (old.persona, old.memory):
            self.prepare_persona()
