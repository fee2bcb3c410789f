"""Hear a preset voice before choosing it: a play button on each voice of the list, the
sample played through Qt Multimedia, and a line saying what is happening (the model
makes the sample, the engine must be started first...) with a button to start it."""

from __future__ import annotations

from PySide6.QtCore import QUrl, Signal
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QToolButton, QWidget

from ...bridge.voice_samples import VoiceSamples
from .common import Message

PLAY, STOP = "▶", "■"


class SamplePanel(QWidget):
    """The message line and its "Start the engine" button; makes the play buttons."""

    playing_changed = Signal(str)  # the voice playing now, "" when none

    def __init__(self, samples: VoiceSamples, parent: QWidget | None = None) -> None:
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
        self._player = None  # made on first use: Qt Multimedia is slow to load
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
        if self._player is not None:
            self._player.stop()
        self._set_playing("")  # also when it was still opening the file

    # --- answers ------------------------------------------------------------------------

    def _ready(self, voice: str, path: str) -> None:
        if voice != self.wanted or not self.isVisible():
            return  # the user has asked for another since, or closed the dialog
        self.message.clear()
        self.start_button.hide()
        self._ensure_player()
        self._player.setSource(QUrl.fromLocalFile(path))
        self._player.play()
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

    def _ensure_player(self) -> None:
        if self._player is not None:
            return
        from PySide6.QtMultimedia import QAudioOutput, QMediaPlayer

        self._player = QMediaPlayer(self)
        self._output = QAudioOutput(self)
        self._player.setAudioOutput(self._output)
        self._player.playbackStateChanged.connect(self._state)
        self._player.errorOccurred.connect(
            lambda _e, text: self.message.show_text(f"The voice cannot be played ({text}).",
                                                    "error"))

    def _state(self, state) -> None:
        from PySide6.QtMultimedia import QMediaPlayer

        if state != QMediaPlayer.PlaybackState.PlayingState:
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
