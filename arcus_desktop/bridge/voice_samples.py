"""Samples of the preset voices for the Voice page: played from the samples folder at
once when made before, else made by the engine process (core/previews.py). The engine
is the app controller's: it is not started for a sample unless the user asks
(`start_engine`), and a sample asked for while it starts is made once it is ready."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from ..core import previews
from ..core.errors import plain_hint

ENGINE_DOWN = "Start the engine to hear voices: the model says a short greeting in each."
BUSY = "Voices can be heard when no conversation is going on."
REMOTE = ("With a team server, voices cannot be heard before choosing yet: the samples are "
          "made by the model on this computer.")


class VoiceSamples(QObject):
    ready = Signal(str, str)  # voice, WAV path: play it
    waiting = Signal(str, str)  # voice, what is happening (the engine starts, the model speaks)
    unavailable = Signal(str, str, bool)  # voice, why, whether start_engine() would help
    failed = Signal(str, str)  # voice, what went wrong and what to do

    def __init__(self, controller=None, parent: QObject | None = None) -> None:
        """`controller`: bridge.controller.AppController (None: no engine at all)."""
        super().__init__(parent)
        self.controller = controller
        self.pending: str | None = None  # the voice to make once the engine is ready
        self.asked: str | None = None  # the voice the engine is making now
        self._last = ""  # the voice asked for last: made once the user starts the engine
        self._engine = None  # whose voice_sample signal is connected
        if controller is not None:
            controller.changed.connect(self._engine_changed)

    def request(self, voice: str) -> None:
        """The user wants to hear `voice`: one of the signals answers (ready at once
        when its sample was made before)."""
        path = previews.path_for(voice)
        if path is None:
            self.failed.emit(voice, f"{voice} is not a preset voice that can be heard.")
            return
        if path.is_file():
            self.pending = None
            self.ready.emit(voice, str(path))
            return
        c = self.controller
        self.pending, self._last = voice, voice
        if c is None or c.engine is None or c.engine_state in ("none", "stopped", "failed"):
            self.pending = None  # made only if the user starts the engine for it
            self.unavailable.emit(voice, ENGINE_DOWN, c is not None)
        elif not getattr(c.engine, "makes_samples", False):
            self.pending = None
            self.failed.emit(voice, REMOTE)
        elif c.engine_state == "talking" or c.want_talk:
            self.pending = None
            self.failed.emit(voice, BUSY)
        elif c.engine_state == "loading":
            self.waiting.emit(voice, "The engine is starting; the voice plays once it is ready.")
        elif self.asked is None:
            self._ask(voice)
        else:  # the engine is making another; this one follows
            self.waiting.emit(voice, f"Making a sample of {voice}…")

    def start_engine(self) -> None:
        if self.controller is None:
            return
        self.pending = self.pending or self._last or None
        self.controller.start_engine()
        if self.pending:
            self.waiting.emit(self.pending, "Starting the engine; the voice plays once it is "
                                            "ready.")
        self._engine_changed()  # already ready: made now

    def _ask(self, voice: str) -> None:
        engine = self.controller.engine
        if engine is not self._engine:
            if self._engine is not None:
                try:
                    self._engine.voice_sample.disconnect(self._answer)
                except (RuntimeError, TypeError):
                    pass
            engine.voice_sample.connect(self._answer)
            self._engine = engine
        self.asked, self.pending = voice, None
        self.waiting.emit(voice, f"Making a sample of {voice}…")
        engine.preview(voice)

    def _answer(self, voice: str, path: str, message: str, hint: str) -> None:
        if voice != self.asked:
            return  # an answer to an engine that has since been replaced
        self.asked = None
        if path:
            self.ready.emit(voice, path)
        else:
            self.failed.emit(voice, f"{message} {plain_hint(hint)}".strip())
        self._engine_changed()  # another voice may be waiting

    def _engine_changed(self) -> None:
        c = self.controller
        if c.engine_state == "loading" and self.asked is not None:
            # It restarted while making the sample: not asked again (the sample may be
            # what stopped it), the user may try once more.
            voice, self.asked = self.asked, None
            self.failed.emit(voice, "The engine stopped while making the sample and is "
                                    "restarting. Try again in a moment.")
        elif c.engine_state == "failed" and (self.pending or self.asked):
            voice = self.pending or self.asked
            self.pending = self.asked = None
            message, hint = c.error or ("The engine stopped.", "")
            self.failed.emit(voice, f"{message} {plain_hint(hint)}".strip())
        elif c.want_talk and self.pending:  # a conversation comes first: not made after it
            voice, self.pending = self.pending, None
            self.failed.emit(voice, BUSY)
        elif c.engine_state == "ready" and not c.want_talk and self.pending and not self.asked:
            if getattr(c.engine, "makes_samples", False):
                self._ask(self.pending)
            else:  # a team server's engine started
                voice, self.pending = self.pending, None
                self.failed.emit(voice, REMOTE)
