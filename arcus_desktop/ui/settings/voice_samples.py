"""Hear a preset voice before choosing it: a play button on each voice of the list, the
sample played on the speaker chosen on the Audio page, and a line saying what is happening (the model
makes the sample, the engine must be started first...) with a button to start it."""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QToolButton, QWidget

from ...bridge.player import Player, saved_output_device
from ...bridge.voice_samples import VoiceSamples
from .common import Message

PLAY, STOP = "▶", "■"


class SamplePanel(QWidget):
    """The message line and its "Start the engine" button; makes the play buttons."""

    playing_changed = Signal(str)  # the voice playing now, "" when none

    def __init__(self, samples: VoiceSamples, parent: QWidget | None = None,
                 output_device: Callable[[], str | None] = saved_output_device) -> None:
        """`output_device()`: the speaker chosen on the Audio page."""
        super().__init__(parent)
        self.samples = samples
        self.message = Message()
        self.start_button = QPushButton("Start the &engine")
        self.start_button.setAccessibleName("Start the engine to hear voices")
        self.start_button.clicked.connect(self._start_engine)
        self.start_button.hide()
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.message, 1)
        row.addWidget(self.start_button)
        self.buttons: dict[str, QToolButton] = {}
        self.wanted = ""  # the voice the user asked to hear last
        self.playing = ""
        self.player = Player(output_device, parent=self)
        self.player.state_changed.connect(self._state)
        self.player.failed.connect(
            lambda text: self.message.show_text(f"The voice cannot be played: {text}", "error"))
        samples.ready.connect(self._ready)
        samples.waiting.connect(self._waiting)
        samples.unavailable.connect(self._unavailable)
        samples.failed.connect(self._failed)

    def button_for(self, voice: str) -> QWidget:
        """A row's play button, right-aligned over the list item's text."""
        button = QToolButton()
        button.setText(PLAY)
        button.setAutoRaise(True)
        button.setToolTip(f"Hear {voice}")
        button.setAccessibleName(f"Hear {voice}")
        button.clicked.connect(lambda: self.toggle(voice))
        self.buttons[voice] = button
        holder = QWidget()
        layout = QHBoxLayout(holder)
        layout.setContentsMargins(0, 0, 4, 0)
        layout.addStretch(1)
        layout.addWidget(button)
        return holder

    def forget_buttons(self) -> None:
        """The list was rebuilt (its items own the old buttons)."""
        self.buttons.clear()
        if self.playing:
            self.stop()

    def toggle(self, voice: str) -> None:
        if self.playing == voice:
            self.stop()
            return
        self.stop()
        self.wanted = voice
        self.start_button.hide()
        self.samples.request(voice)

    def stop(self) -> None:
        self.player.stop()
        self._set_playing("")  # also when it was still opening the file

    # --- answers ------------------------------------------------------------------------

    def _ready(self, voice: str, path: str) -> None:
        if voice != self.wanted or not self.isVisible():
            return  # the user has asked for another since, or closed the dialog
        self.message.clear()
        self.start_button.hide()
        self.player.stop()
        self.player.set_source(path)
        self.player.seek(0.0)
        self.player.play()
        self._set_playing(voice)

    def _waiting(self, voice: str, text: str) -> None:
        if voice == self.wanted:
            self.message.show_text(text, "info")

    def _unavailable(self, voice: str, text: str, can_start: bool) -> None:
        if voice == self.wanted:
            self.message.show_text(text, "info")
            self.start_button.setVisible(can_start)

    def _failed(self, voice: str, text: str) -> None:
        if voice == self.wanted:
            self.message.show_text(text, "error")

    def _start_engine(self) -> None:
        self.start_button.hide()
        self.samples.start_engine()

    # --- playing ------------------------------------------------------------------------

    def _state(self, playing: bool) -> None:
        if not playing:
            self._set_playing("")

    def _set_playing(self, voice: str) -> None:
        if voice == self.playing:
            return
        for name, button in self.buttons.items():
            try:
                button.setText(STOP if name == voice else PLAY)
            except RuntimeError:  # deleted with its list item
                pass
        self.playing = voice
        self.playing_changed.emit(voice)
