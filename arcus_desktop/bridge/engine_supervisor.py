"""The app's side of the engine process: it spawns the process, sends it commands,
turns its events into Qt signals (from a reader thread), and restarts it when it dies,
saying why. A conversation that was going on when the engine died is picked up again
by the new process, under the same conversation id and from where it was."""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
import uuid

from PySide6.QtCore import QObject, Signal

from ..core.events import (DeviceChanged, EngineFailed, FrameStats, Levels, Loading, Notice,
                           RecordingFinished, RecordingStarted, RecordingStopped, StateChanged,
                           TextPiece, VoiceSample)
from ..core.turns import Backchannel, TurnEnded, TurnStarted
from ..engine.host import EXIT_TOLD, FRAME_S, HostConfig, main as host_main

log = logging.getLogger(__name__)
MAX_RESTARTS = 3  # within RESTART_WINDOW_S; beyond that the error stands
RESTART_WINDOW_S = 60.0


class EngineSupervisor(QObject):
    state_changed = Signal(str, str)
    text = Signal(str, float)  # the assistant's pieces ("▁" starts a word), seconds
    user_text = Signal(str, float)  # the user's, when a speech-to-text model is installed
    levels = Signal(float, float)
    stats = Signal(object)
    failed = Signal(str, str)
    notice = Signal(str, str)  # message, hint: worth telling, nothing stopped
    loading = Signal(float, str)  # fraction, what
    restarted = Signal(str)  # why the engine had to be started again
    # TurnStarted, Backchannel or TurnEnded; times are seconds into the recording, which
    # starts `part_offset` seconds into the conversation (later than 0 after a restart).
    turn = Signal(object)
    recording = Signal(str)  # the WAV this part of the conversation is recorded to
    unrecorded = Signal(str)  # or, when it is not recorded, a key naming this part
    # That part (its WAV or key) is over and all its turns were sent: after the engine's last
    # turns at the end, or when its process died (then a WAV's journal holds what was said).
    recording_ended = Signal(str)
    devices_changed = Signal(str, str)  # input, output now in use (a device came or went)
    # A preset voice's sample (preview()): voice, WAV path ("" if not made), message, hint.
    voice_sample = Signal(str, str, str, str)
    target = staticmethod(host_main)  # the engine process's entry point
    makes_samples = True  # the model is here: preview() works

    def __init__(self, config: HostConfig, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.config = config
        self._ctx = multiprocessing.get_context("spawn")
        self._restarts: list[float] = []
        self._closing = False
        self._lock = threading.Lock()  # commands are sent from the GUI and reader threads
        self.process = None
        self.conversation: str | None = None  # id of the conversation going on, if any
        self._persona: dict | None = None
        self._heard_until = 0.0  # seconds of the conversation the app has seen
        self._offset = 0.0  # where the engine's current part of the conversation began
        self._persona_name = ""
        self._sampling: dict | None = None
        self._seed: int | None = None
        self._resume = False
        self._start()

    def _start(self) -> None:
        commands_here, commands_there = self._ctx.Pipe()
        events_here, events_there = self._ctx.Pipe(duplex=False)
        self.process = self._ctx.Process(target=self.target, name="arcus-engine", daemon=True,
                                         args=(self.config, commands_there, events_there))
        self.process.start()
        commands_there.close()
        events_there.close()
        self._commands = commands_here
        self._reader = threading.Thread(target=self._read, args=(events_here, self.process),
                                        name="engine-events", daemon=True)
        self._reader.start()

    def _read(self, events, process) -> None:
        recording = None  # the WAV this process is writing
        while True:
            try:
                event = events.recv()
            except (EOFError, OSError):  # the process is gone
                break
            if isinstance(event, StateChanged):
                if event.state == "ready" and self._resume:
                    self._resume = False
                    self._send("start", self._start_args())
                elif event.state == "ready":  # any conversation has ended (maybe on an error)
                    self._end_conversation()
                self.state_changed.emit(event.state, event.detail)
            elif isinstance(event, TextPiece) and event.speaker == "user":
                self.user_text.emit(event.piece, event.time)
            elif isinstance(event, TextPiece):
                self._heard_until = max(self._heard_until, event.time + FRAME_S)
                self.text.emit(event.piece, event.time)
            elif isinstance(event, Levels):
                self.levels.emit(event.user, event.assistant)
            elif isinstance(event, FrameStats):
                self._heard_until = max(self._heard_until, self._offset + event.frames * FRAME_S)
                self.stats.emit(event)
            elif isinstance(event, Loading):
                self.loading.emit(event.fraction, event.what)
            elif isinstance(event, (TurnStarted, Backchannel, TurnEnded)):
                self.turn.emit(event)
            elif isinstance(event, RecordingStarted):
                recording = event.path
                (self.recording if event.recorded else self.unrecorded).emit(event.path)
            elif isinstance(event, RecordingFinished):
                recording = None
                self.recording_ended.emit(event.path)
            elif isinstance(event, DeviceChanged):
                self.devices_changed.emit(event.input_name, event.output_name)
                self.notice.emit(event.message, "Choose devices in Settings > Audio."
                                 if event.reason in ("lost", "fallback") else "")
            elif isinstance(event, (Notice, RecordingStopped)):
                self.notice.emit(event.message, event.hint)
            elif isinstance(event, VoiceSample):
                self.voice_sample.emit(event.voice, event.path, event.message, event.hint)
            elif isinstance(event, EngineFailed):
                self.failed.emit(event.message, event.hint)
        process.join(10)
        if recording is not None:  # died mid-conversation: no more turns will come
            self.recording_ended.emit(recording)
        if not self._closing:
            self._died(process.exitcode)

    def _died(self, exitcode) -> None:
        if exitcode == EXIT_TOLD:  # it said why (failed); the same start would fail again
            self._end_conversation()
            self.state_changed.emit("failed", "")
            return
        now = time.monotonic()
        self._restarts = [t for t in self._restarts if now - t < RESTART_WINDOW_S]
        reason = (f"The engine stopped unexpectedly (exit code {exitcode})."
                  if exitcode not in (None, 0) else "The engine stopped.")
        if len(self._restarts) >= MAX_RESTARTS:
            self._end_conversation()
            self.failed.emit(reason, "It failed repeatedly; check the model and devices in "
                                     "Settings, then start a conversation again.")
            return
        self._restarts.append(now)
        self._resume = self.conversation is not None
        log.warning("%s Restarting.", reason)
        self.restarted.emit(reason)
        self._start()

    def _send(self, command: str, arg=None) -> None:
        try:
            with self._lock:
                self._commands.send((command, arg))
        except (BrokenPipeError, OSError):  # it just died; the reader restarts it
            log.warning("engine command %s lost: the engine is restarting", command)

    def _start_args(self) -> dict:
        self._offset = self._heard_until
        return {"persona": self._persona, "persona_name": self._persona_name,
                "sampling": self._sampling, "seed": self._seed,
                "conversation": self.conversation, "offset": self._offset}

    @property
    def part_offset(self) -> float:
        """Where the current recording starts in the conversation, in seconds."""
        return self._offset

    def _end_conversation(self) -> None:
        self.conversation, self._persona, self._resume = None, None, False

    def talk(self, persona: dict | None = None, persona_name: str = "",
             sampling: dict | None = None, seed: int | None = None) -> str:
        """Start a conversation; its id (recordings and memories are filed under it).
        `persona`: core.persona.Persona's fields; `sampling`: engine Sampling's."""
        self.conversation = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        self._persona, self._heard_until = dict(persona or {}), 0.0
        self._persona_name, self._sampling, self._seed = persona_name, sampling, seed
        self._send("start", self._start_args())
        return self.conversation

    def stop_talking(self) -> None:
        self._end_conversation()
        self._send("stop")

    def mute(self, muted: bool) -> None:
        self._send("mute", muted)

    def set_volume(self, volume: float) -> None:
        self._send("volume", volume)

    def set_devices(self, input_device: str | None, output_device: str | None) -> None:
        """Other microphone and speaker (names; None: the system's), now if talking."""
        self.config.input_device, self.config.output_device = input_device, output_device
        self._send("devices", (input_device, output_device))

    def preview(self, voice: str, seconds: float | None = None) -> None:
        """Ask for a preset voice's sample (core/previews.py); `voice_sample` answers."""
        self._send("preview", {"voice": voice} if seconds is None
                   else {"voice": voice, "seconds": seconds})

    def shutdown(self, timeout_s: float = 20.0) -> int | None:
        """Ask the engine to finish and wait for it; its exit code."""
        self._closing = True
        self._end_conversation()
        self._send("shutdown")
        self.process.join(timeout_s)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        self._reader.join(5)
        return self.process.exitcode
