"""Listen to a recording before choosing it as the assistant's voice: Qt Multimedia
plays any file the engine reads (WAV, FLAC, MP3, OGG) on the system's speaker."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QUrl, Signal
from PySide6.QtWidgets import QPushButton

PLAY, STOP = "&Listen", "&Stop"


class ListenButton(QPushButton):
    finished = Signal()  # played to the end, or stopped
    failed = Signal(str)  # why it could not play, for the user

    def __init__(self, parent=None) -> None:
        super().__init__(PLAY, parent)
        self.setAccessibleName("Listen to the recording")
        self.path = ""
        self._player = None  # made on first use: Qt Multimedia is slow to load
        self.clicked.connect(self._toggle)

    @property
    def playing(self) -> bool:
        from PySide6.QtMultimedia import QMediaPlayer

        return (self._player is not None and
                self._player.playbackState() == QMediaPlayer.PlaybackState.PlayingState)

    def _toggle(self) -> None:
        if self.playing:
            self._player.stop()
            return
        if not self.path or not Path(self.path).is_file():
            self.failed.emit("Choose a recording first: there is no file to play.")
            return
        self._ensure_player()
        self._player.setSource(QUrl.fromLocalFile(str(Path(self.path).resolve())))
        self._player.play()

    def _ensure_player(self) -> None:
        if self._player is not None:
            return
        from PySide6.QtMultimedia import QAudioOutput, QMediaPlayer

        self._player = QMediaPlayer(self)
        self._output = QAudioOutput(self)
        self._player.setAudioOutput(self._output)
        self._player.playbackStateChanged.connect(self._state)
        self._player.errorOccurred.connect(
            lambda _e, text: self.failed.emit(f"The recording cannot be played ({text})."))

    def _state(self, state) -> None:
        from PySide6.QtMultimedia import QMediaPlayer

        playing = state == QMediaPlayer.PlaybackState.PlayingState
        self.setText(STOP if playing else PLAY)
        if not playing:
            self.finished.emit()
