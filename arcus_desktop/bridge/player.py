"""A recording played for a window (audio.player.FilePlayer), as Qt signals on the GUI
thread. Opening (decoding, the sound server) runs on the task pool, its result
delivered by a queued signal; while playing, a timer on the GUI thread looks at the
player, which only reads what the PortAudio callback counted. No foreign thread ever
emits into Qt: Qt Multimedia's did, and deadlocked against the GUI thread over the GIL."""

from __future__ import annotations

import threading
from typing import Callable

from PySide6.QtCore import QObject, QTimer, Signal

from ..audio.player import FAILED, FINISHED, PLAYING, VOICE_MAX_S, WINDOW_S, FilePlayer  # noqa: F401
from ..core.errors import ArcusError
from . import tasks

POLL_MS = 50


def saved_output_device() -> str | None:
    """The speaker chosen on the Audio page, as saved (None: the system default)."""
    from ..settings.app_settings import load
    from .settings_store import QSettingsStore

    return load(QSettingsStore()).audio.output_device or None


class _Slot:
    """The one player of a Player, opened on worker threads: one that finishes opening
    after it was stopped (or another was asked for) is stopped at once, never heard."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.turn = 0
        self.player: FilePlayer | None = None
        self.opening = 0  # opens in flight
        self.stopped: list[FilePlayer] = []  # still closing

    def stop(self) -> int:
        """Stop the current player (and any still opening); the new turn."""
        with self.lock:
            self.turn += 1
            player, self.player = self.player, None
            turn = self.turn
        if player is not None:
            self._let_go(player)
        return turn

    def _let_go(self, player: FilePlayer) -> None:
        player.stop()  # closes on a thread of its own
        with self.lock:
            self.stopped = [p for p in self.stopped if not p.closed] + [player]

    @property
    def settled(self) -> bool:
        """Nothing opening, nothing open but the player playing now."""
        with self.lock:
            return not self.opening and all(p.closed for p in self.stopped)

    def open(self, turn: int, make: Callable[[], FilePlayer]):
        """Blocking: (turn, the started player or None, the error for the user)."""
        with self.lock:
            self.opening += 1
        try:
            return self._open(turn, make)
        finally:
            with self.lock:
                self.opening -= 1

    def _open(self, turn: int, make: Callable[[], FilePlayer]):
        try:
            player = make()
        except ArcusError as e:
            return turn, None, e.user_text()
        with self.lock:
            current = turn == self.turn
            if current:
                self.player = player
        if not current:
            self._let_go(player)
            return turn, None, ""
        try:
            return turn, player.start(), ""
        except ArcusError as e:
            return turn, None, e.user_text()


class Player(QObject):
    """Plays `source` on the speaker `output_device()` gives (a name from
    `list_devices()`; None for the system default), decoding `max_seconds` at a time (a
    longer file plays on in the next stretch). `playing` from `play()` until it is
    stopped, finished or failed."""

    state_changed = Signal(bool)  # playing (or opening to play), or not
    position_changed = Signal(float)  # seconds into the file, while playing
    finished = Signal()  # played to the end
    failed = Signal(str)  # why it could not play, for the user

    def __init__(self, output_device: Callable[[], str | None] = saved_output_device,
                 max_seconds: float = VOICE_MAX_S, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.output_device = output_device
        self.max_seconds = max_seconds
        self.source = ""
        self.playing = False
        self._position = 0.0
        self._duration = 0.0
        self._player: FilePlayer | None = None  # the open one (None while opening)
        self._turn = 0
        self._slot = _Slot()
        slot = self._slot  # not self: a deleted Player still stops its sound
        self.destroyed.connect(lambda *_: slot.stop())
        self._timer = QTimer(self, interval=POLL_MS)
        self._timer.timeout.connect(self._poll)

    def set_source(self, path: str) -> None:
        """Another file (stops the one playing); played from its start."""
        if path != self.source:
            self.stop()
            self.source, self._position, self._duration = path, 0.0, 0.0

    def position(self) -> float:
        return self._position

    def settled(self) -> bool:
        """No stream opening or closing but the one playing: before a sound server goes
        away (tests), or PortAudio is restarted."""
        return self._slot.settled

    def duration(self) -> float:
        """The file's length, once it has been opened (0 before)."""
        return self._duration

    def play(self) -> None:
        if not self.playing:
            self._open(self._position)

    def stop(self) -> None:
        self._turn = self._slot.stop()
        self._player = None
        self._timer.stop()
        self._set_playing(False)

    def seek(self, seconds: float) -> None:
        """Move to `seconds` into the file, playing or not."""
        seconds = max(0.0, seconds)
        if self._duration:
            seconds = min(seconds, self._duration)
        player = self._player
        if player is not None:
            if not player.seek(seconds):  # outside the stretch decoded: open it there
                self._open(seconds)
        elif self.playing:  # still opening: open again, there
            self._open(seconds)
        self._set_position(seconds)

    # --- the worker's side ---------------------------------------------------------------

    def _open(self, start_s: float) -> None:
        self._turn = turn = self._slot.stop()
        self._player = None
        self._set_position(start_s)
        path, cap = self.source, self.max_seconds
        try:
            device = self.output_device()
        except Exception:  # the settings could not be read: the system default
            device = None
        slot = self._slot
        tasks.run(lambda: slot.open(turn, lambda: FilePlayer(path, device, start_s, cap)),
                  self._opened, self._open_failed, "opening a recording to play")
        self._timer.start()
        self._set_playing(True)

    def _opened(self, result) -> None:
        turn, player, error = result
        if turn != self._turn:
            return  # stopped, or asked again, meanwhile
        if player is None:
            self._fail(error)
            return
        self._player = player
        self._duration = player.duration

    def _open_failed(self, text: str) -> None:  # a bug (ArcusErrors come in _opened)
        if self.playing and self._player is None:
            self._fail(text)

    # --- the GUI thread: what the player counted -------------------------------------------

    def _poll(self) -> None:
        player = self._player
        if player is None:
            return  # opening
        state = player.check()
        self._set_position(player.position)
        if state == PLAYING:
            return
        if state == FINISHED and player.more:  # the next stretch of a long file
            self._open(player.end_s)
        elif state == FINISHED:
            self.stop()
            self._position = 0.0  # played again from the start
            self.finished.emit()
        elif state == FAILED:
            self._fail(player.error)
        else:
            self.stop()

    def _fail(self, text: str) -> None:
        self.stop()
        self.failed.emit(text)

    def _set_position(self, seconds: float) -> None:
        if seconds != self._position:
            self._position = seconds
            self.position_changed.emit(seconds)

    def _set_playing(self, playing: bool) -> None:
        if playing != self.playing:
            self.playing = playing
            self.state_changed.emit(playing)
