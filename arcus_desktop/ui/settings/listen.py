"""Listen to a recording before choosing it as the assistant's voice: any file the engine
reads (WAV, FLAC, MP3, OGG), its first minute, on the speaker chosen on the Audio page."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QPushButton

from ...bridge.player import Player, saved_output_device

PLAY, STOP = "&Listen", "&Stop"


class ListenButton(QPushButton):
    finished = Signal()  # played to the end, or stopped
    failed = Signal(str)  # why it could not play, for the user

    def __init__(self, parent=None,
                 output_device: Callable[[], str | None] | None = None) -> None:
        """`output_device()`: the speaker chosen on the Audio page (without it, the
        saved one)."""
        super().__init__(PLAY, parent)
        self.setAccessibleName("Listen to the recording")
        self.path = ""
        self.player = Player(output_device or saved_output_device, parent=self)
        self.player.state_changed.connect(self._state)
        self.player.failed.connect(
            lambda text: self.failed.emit(f"The recording cannot be played: {text}"))
        self.clicked.connect(self._toggle)

    @property
    def playing(self) -> bool:
        return self.player.playing

    def stop(self) -> None:
        self.player.stop()

    def _toggle(self) -> None:
        if self.playing:
            self.player.stop()
            return
        if not self.path or not Path(self.path).is_file():
            self.failed.emit("Choose a recording first: there is no file to play.")
            return
        self.player.stop()
        self.player.set_source(str(Path(self.path).resolve()))
        self.player.seek(0.0)  # from the start each time, as the file may have changed
        self.player.play()

    def _state(self, playing: bool) -> None:
        self.setText(STOP if playing else PLAY)
        if not playing:
            self.finished.emit()
