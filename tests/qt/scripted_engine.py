"""A stand-in for EngineSupervisor: the same signals and methods, no process, no model.

Tests emit its signals themselves to script what the engine says. With `auto=True` it
answers like the real host would, through the event loop: loading → ready at once,
"talking" after talk(), "ready" after stop_talking() (and before it `recording_ended`
for the recording, or unrecorded part, the test announced, if any)."""

from __future__ import annotations

import itertools

from PySide6.QtCore import QObject, QTimer, Signal

_ids = itertools.count(1)


class ScriptedEngine(QObject):
    state_changed = Signal(str, str)
    text = Signal(str, float)
    levels = Signal(float, float)
    stats = Signal(object)
    failed = Signal(str, str)
    notice = Signal(str, str)
    loading = Signal(float, str)
    restarted = Signal(str)
    turn = Signal(object)
    recording = Signal(str)
    unrecorded = Signal(str)
    recording_ended = Signal(str)

    def __init__(self, auto: bool = False, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.auto = auto
        self.calls: list[tuple] = []
        self.requests: list[dict] = []  # talk's other keyword arguments, per call
        self.recording_path: str | None = None  # the last one announced, until it ends
        self.recording.connect(lambda path: setattr(self, "recording_path", path))
        self.unrecorded.connect(lambda key: setattr(self, "recording_path", key))
        if auto:
            QTimer.singleShot(0, self._load)

    def _load(self) -> None:
        self.state_changed.emit("loading", "")
        self.loading.emit(0.5, "Language model")
        self.loading.emit(1.0, "Ready")
        self.state_changed.emit("ready", "")

    def talk(self, persona: dict | None = None, **request) -> str:
        conversation = f"conversation-{next(_ids)}"
        self.calls.append(("talk", persona))
        self.requests.append(request)
        if self.auto:
            QTimer.singleShot(0, lambda: self.state_changed.emit("talking", conversation))
        return conversation

    def stop_talking(self) -> None:
        self.calls.append(("stop",))
        if self.auto:
            QTimer.singleShot(0, self._stopped)

    def _stopped(self) -> None:
        if self.recording_path is not None:
            path, self.recording_path = self.recording_path, None
            self.recording_ended.emit(path)
        self.state_changed.emit("ready", "")

    def mute(self, muted: bool) -> None:
        self.calls.append(("mute", muted))

    def set_volume(self, volume: float) -> None:
        self.calls.append(("volume", volume))

    def set_devices(self, input_device, output_device) -> None:
        self.calls.append(("devices", input_device, output_device))

    def shutdown(self, timeout_s: float = 20.0) -> int:
        self.calls.append(("shutdown",))
        return 0

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]
