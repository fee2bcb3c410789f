"""Record one's own voice inside Arcus: Record / Stop, a clock and a level meter while
recording, Play back, Record again. A take is checked when it stops (length, silence,
level) and saved as a WAV in the data folder; a usable one is offered as the own voice."""

from __future__ import annotations

import logging
import math
import time
from typing import Callable

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from ...bridge.audio_devices import (MAX_VOICE_SECONDS, MIN_VOICE_SECONDS, RATE, VoiceRecorder,
                                     check_pcm)
from ...core import paths
from ...core.errors import ArcusError
from .common import Message
from .listen import ListenButton

log = logging.getLogger(__name__)
RECORD, STOP, AGAIN = "&Record", "S&top", "&Record again"
REJECTED = "last-unusable-take.wav"  # replaced by the next unusable take
TICK_MS = 100
FLOOR_DB = -60.0  # the meter's empty end


def takes_dir():
    return paths.data_dir() / "voices"


def _clock(seconds: float) -> str:
    return f"{int(seconds) // 60}:{int(seconds) % 60:02d}"


class RecorderBox(QWidget):
    recorded = Signal(str)  # a usable take was saved there

    def __init__(self, input_device: Callable[[], str | None],
                 max_seconds: float = MAX_VOICE_SECONDS, parent: QWidget | None = None,
                 output_device: Callable[[], str | None] | None = None) -> None:
        """`input_device()`, `output_device()`: the microphone and the speaker chosen on
        the Audio page (without the latter, the saved one)."""
        super().__init__(parent)
        self._input_device = input_device
        self.max_seconds = max_seconds
        self.record = QPushButton(RECORD)
        self.record.setAccessibleName("Record my voice")
        self.record.clicked.connect(self._toggle)
        self.listen = ListenButton(output_device=output_device)
        self.listen.setText("Play &back")
        self.listen.setAccessibleName("Play back the recording")
        self.listen.finished.connect(lambda: self.listen.setText("Play &back"))
        self.listen.setEnabled(False)
        self.clock = QLabel("")
        self.meter = QProgressBar()
        self.meter.setRange(0, 100)
        self.meter.setTextVisible(False)
        self.meter.setMaximumHeight(8)
        self.meter.setAccessibleName("Microphone level")
        self.meter.hide()
        self.message = Message()
        self.listen.failed.connect(self.message.show_text)
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        for w in (self.record, self.listen, self.clock):
            buttons.addWidget(w)
        buttons.addStretch(1)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(buttons)
        column.addWidget(self.meter)
        column.addWidget(self.message)
        self._recorder: VoiceRecorder | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)
        self.take = ""  # the last take's WAV
        self.check = None  # its VoiceCheck

    @property
    def recording(self) -> bool:
        return self._recorder is not None

    @property
    def seconds(self) -> float:
        """How long the take going on is so far (0 when none is)."""
        return self._recorder.seconds if self._recorder is not None else 0.0

    def _toggle(self) -> None:
        if self._recorder is not None:
            self.finish()
        else:
            self.begin()

    def begin(self) -> None:
        if self.listen.playing:
            self.listen.click()
        recorder = VoiceRecorder(self._input_device() or None, self.max_seconds)
        try:
            recorder.start()
        except ArcusError as e:
            self.message.show_text(e.user_text(), "error")
            return
        self._recorder = recorder
        self.record.setText(STOP)
        self.record.setAccessibleName("Stop recording")
        self.listen.setEnabled(False)
        self.meter.setValue(0)
        self.meter.show()
        self.message.show_text(recorder.note or
                               f"Recording from {recorder.device_name}: read something aloud "
                               f"for {MIN_VOICE_SECONDS + 5:.0f} to {self.max_seconds:.0f} "
                               "seconds, then press Stop.", "info")
        self._tick()
        self._timer.start()

    def _tick(self) -> None:
        r = self._recorder
        if r is None:
            return
        self.clock.setText(f"{_clock(r.seconds)} of {_clock(self.max_seconds)}")
        db = 20 * math.log10(r.level) if r.level > 0 else FLOOR_DB
        self.meter.setValue(round(100 * min(1.0, max(0.0, 1 - db / FLOOR_DB))))
        if r.full:
            self.finish()

    def finish(self) -> None:
        """Stop recording; check the take, save it, and offer it if it is usable."""
        r, self._recorder = self._recorder, None
        if r is None:
            return
        self._timer.stop()
        full = r.full
        pcm = r.stop()
        self.meter.hide()
        self.record.setText(AGAIN)
        self.record.setAccessibleName("Record my voice again")
        self.clock.setText(_clock(pcm.size / RATE))
        check = check_pcm(pcm)
        path = self._save(pcm, check.ok)
        if path is None:
            return
        self.check = check
        self.listen.path = path
        self.listen.setEnabled(True)
        if check.errors:
            self.message.show_text(" ".join(check.errors) + " Press Record again.", "error")
            return
        notes = ([f"Recording stops at {self.max_seconds:.0f} s: that is all the model uses."]
                 if full else [])
        notes += check.warnings
        self.message.show_text(" ".join(notes) or "Recorded. Play it back to hear it; tick the "
                               "line below to use it.", "info" if notes else "ok")
        self.recorded.emit(path)

    def _save(self, pcm, usable: bool) -> str | None:
        """A usable take gets a name of its own and is kept (it may be chosen, saved, then
        replaced and the change cancelled); an unusable one, only to be played back,
        always the same name."""
        from ...bridge.audio_devices import write_wav

        if usable:
            path = takes_dir() / time.strftime("my-voice-%Y%m%d-%H%M%S.wav")
            n = 1
            while path.exists():  # two takes in one second
                n += 1
                path = path.with_name(time.strftime(f"my-voice-%Y%m%d-%H%M%S-{n}.wav"))
        else:
            path = takes_dir() / REJECTED
        try:
            write_wav(path, pcm, RATE)
        except ArcusError as e:  # a full disk, a folder that cannot be written
            self.message.show_text(e.user_text(), "error")
            return None
        except (OSError, ValueError):  # one write_wav did not foresee: told all the same
            log.exception("saving the take %s", path)
            self.message.show_text("The recording could not be saved in the data folder. "
                                   "Check that its disk has room, then press Record again.",
                                   "error")
            return None
        self.take = str(path)
        return str(path)

    def cancel(self) -> None:
        """The dialog closed mid-take: the microphone is let go, nothing is offered."""
        r, self._recorder = self._recorder, None
        self._timer.stop()
        if r is not None:
            r.stop()
            self.meter.hide()
            self.record.setText(RECORD)
