"""Audio: microphone and speaker (by name: PortAudio's numbers change between runs; with
a sound server, its devices by their descriptions), a live level for the microphone, a
"Test speaker" sound, echo cancellation and volume."""

from __future__ import annotations

import threading
from contextlib import contextmanager

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QLabel, QProgressBar, QPushButton, QSlider

from ...bridge.audio_devices import MeterSlot
from ...bridge import tasks
from ...bridge.settings_store import AppSettings, Secrets
from .common import Message, Page, row
from ..indicators import visible

SYSTEM_DEFAULT = "System default"
METER_MS = 50  # how often the level is shown


def _open_meter(device: str | None):
    from ...bridge.audio_devices import LevelMeter

    with _told("microphone", device):
        return LevelMeter(device)


def _play_chime(device: str) -> str:
    from ...bridge.audio_devices import play_chime

    with _told("speaker", device):
        return play_chime(device or None)


@contextmanager
def _told(what: str, device: str | None):
    """The ways a device fails to open, as the user is told them."""
    from ...core.errors import ArcusError

    try:
        yield
    except LookupError:
        raise ArcusError(f"“{device}” is not connected.", f"Choose another {what}.") from None
    except OSError as e:  # sounddevice found no PortAudio library
        raise ArcusError("PortAudio, which Arcus uses for sound, is not installed.",
                         "Install it (libportaudio2 on Debian and Ubuntu).") from e


def _once(fn):
    """`fn` run by the first caller; later callers wait until it has run."""
    lock, done = threading.Lock(), []

    def call():
        with lock:
            if not done:
                done.append(True)
                fn()
    return call


def _let_go(slot: MeterSlot) -> None:
    meter = slot.stop()
    if meter is not None:
        threading.Thread(target=meter.close, name="arcus-meter-close", daemon=True).start()


class AudioPage(Page):
    title = "Audio"
    devices_listed = Signal()
    meter_opened = Signal(str)  # the microphone the level is from ("" when none opened)
    speaker_tested = Signal(bool)  # the test sound was played (False: it could not be)

    def __init__(self, current, list_devices, parent=None, open_meter=_open_meter,
                 play_chime=_play_chime) -> None:
        super().__init__(current, parent)
        self._list_devices = list_devices  # blocking (PortAudio): called on a worker thread
        self._play_chime = play_chime  # blocking, likewise (as is open_meter)
        self.input = QComboBox()
        self.output = QComboBox()
        for combo in (self.input, self.output):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(32)  # a sound server's descriptions are long
            combo.addItem(SYSTEM_DEFAULT, "")
            combo.currentTextChanged.connect(combo.setToolTip)  # the whole of a cut name
        self.level = QProgressBar()
        self.level.setRange(0, 100)
        self.level.setTextVisible(False)
        self.level.setMaximumHeight(self.level.fontMetrics().height() // 2 + 4)
        self.level.setAccessibleName("Microphone level")
        self.level.setMaximumWidth(self.input.sizeHint().width())
        self.level_message = Message()
        self.test_speaker = QPushButton("&Test speaker")
        self.test_speaker.setToolTip("Plays a short sound on the chosen speaker")
        self.test_speaker.clicked.connect(self.play_test_sound)
        self.speaker_message = Message()
        self.refresh = QPushButton("&Look for devices again")
        self.refresh.clicked.connect(lambda: self.list_devices(refresh=True))
        self.devices_message = Message()
        self.add_field("audio/input_device", "&Microphone:", self.input,
                       extra=(self.level, self.level_message))
        self.add_field("audio/output_device", "&Speaker:", self.output,
                       extra=(row(self.test_speaker, self.refresh), self.speaker_message,
                              self.devices_message))

        self.echo = visible(QCheckBox("&Echo cancellation"))
        self.add_field("audio/echo_cancellation", "", self.echo,
                       note="Keeps Arcus from hearing itself through your speakers. Turn it "
                            "off only with headphones or a headset.")
        self.volume = QSlider(Qt.Orientation.Horizontal)
        self.volume.setRange(0, 100)
        self.volume.setPageStep(10)
        self.volume_label = QLabel()
        self.volume_label.setMinimumWidth(self.volume_label.fontMetrics().horizontalAdvance("100%"))
        self.volume.valueChanged.connect(lambda v: self.volume_label.setText(f"{v}%"))
        self.add_field("audio/volume", "&Volume:", row(self.volume, self.volume_label,
                                                       stretch=False), focus=self.volume)
        self.task = None
        self.watch = None  # follows devices plugged in or out while the page is shown
        self._server = False  # the last list was a sound server's (no rescan needed)
        self._present = {"input": set(), "output": set()}  # names in the last list
        # The level meter, opened and closed on worker threads.
        self.meter = None  # the open one
        self._meter_device: str | None = None  # the microphone it is for; None: stopped
        self._slot = MeterSlot(open_meter)
        slot = self._slot  # not self: a deleted page still lets its meter go
        self.destroyed.connect(lambda *_: _let_go(slot))
        self._meter_timer = QTimer(self, interval=METER_MS)
        self._meter_timer.timeout.connect(self._show_level)
        self.input.currentIndexChanged.connect(self._follow_input)
        self._playing = None
        self._closing = None  # closes the meter stopped last (the next rescan waits for it)
        self._fell_back = ""  # the note on a device that went away, until the user chooses
        for combo in (self.input, self.output):
            combo.activated.connect(self._chosen)

    # --- shown or hidden ---------------------------------------------------------------

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self.watch is None:
            from ...bridge.device_watch import DeviceWatch

            self.watch = DeviceWatch(self)
            self.watch.changed.connect(self._devices_changed)
        self._start_meter()

    def hideEvent(self, event) -> None:
        super().hideEvent(event)
        self._stop_meter()
        if self.watch is not None:
            self.watch.stop()
            self.watch.deleteLater()
            self.watch = None

    def _devices_changed(self) -> None:
        # A sound server's devices are read afresh each time; PortAudio's need a rescan.
        self.list_devices(refresh=not self._server)

    # --- the device lists --------------------------------------------------------------

    def list_devices(self, refresh: bool = False) -> None:
        if self.task is not None and not self.task.finished:
            return  # a listing is on its way
        self.refresh.setEnabled(False)
        self.devices_message.show_text("Looking for audio devices…", "info")
        lister, closing = self._list_devices, None
        if refresh:  # a rescan restarts PortAudio, which ends every stream: close first
            self._stop_meter()
            closing, self._closing = self._closing, None

        def listing():
            if closing is not None:
                closing()
            return lister(refresh=refresh)

        self.task = tasks.run(listing, self._listed, self._list_failed, "listing audio devices")

    def _listed(self, devices) -> None:
        self.refresh.setEnabled(True)
        self.devices_message.clear()
        self._server = any(d.server_name for d in devices)
        gone = []
        for combo, kind, key in ((self.input, "input", "inputs"), (self.output, "output", "outputs")):
            names = [d.name for d in devices if getattr(d, key) > 0]
            keep = combo.currentData() or ""
            if keep and keep in self._present[kind] and keep not in names:
                gone.append((kind, keep))  # pulled out while chosen here
            self._present[kind] = set(names)
            self._fill(combo, names, keep, fall_back=bool(gone and gone[-1] == (kind, keep)))
            # A sound server says which device its default is (PortAudio's is "default").
            default = next((d.name for d in devices if d.default and d.server_name
                            and getattr(d, key) > 0), "")
            combo.setItemText(0, f"{SYSTEM_DEFAULT} ({default})" if default else SYSTEM_DEFAULT)
        if gone:
            label = {"input": "microphone", "output": "speaker"}
            self._fell_back = " ".join(
                f"The {label[kind]} “{name}” was disconnected: the system default is chosen "
                f"instead (choose it again once it is back)." for kind, name in gone)
        if self._fell_back:  # stays through later lists, until the user chooses
            self.devices_message.show_text(self._fell_back, "error")
        elif not devices:
            self.devices_message.show_text("No audio devices were found. Plug one in, then "
                                           "look again.", "error")
        if self.isVisible():
            self._start_meter()  # on the same microphone, if one is open: nothing happens
        self.devices_listed.emit()

    def _chosen(self) -> None:
        if self._fell_back:
            self._fell_back = ""
            self.devices_message.clear()

    def _list_failed(self, text: str) -> None:
        self.refresh.setEnabled(True)
        self.devices_message.show_text(f"The audio devices cannot be listed: {text}", "error")
        if self.isVisible():
            self._start_meter()
        self.devices_listed.emit()

    def _fill(self, combo: QComboBox, names: list[str], keep: str, fall_back: bool) -> None:
        with self.quietly():
            combo.clear()
            combo.addItem(SYSTEM_DEFAULT, "")
            for name in names:
                combo.addItem(name, name)
            self._choose(combo, keep)
            if fall_back:
                combo.setCurrentIndex(0)
                self.edited.emit()  # the choice the user saw changed

    @staticmethod
    def _choose(combo: QComboBox, name: str) -> None:
        index = combo.findData(name)
        if index < 0:  # saved, but not plugged in now: keep it rather than lose it
            combo.addItem(f"{name} (not connected)", name)
            index = combo.count() - 1
        combo.setCurrentIndex(index)

    # --- the microphone's level ----------------------------------------------------------

    def _follow_input(self) -> None:
        if self.isVisible():
            self._start_meter()

    def _start_meter(self) -> None:
        device = self.input.currentData() or ""
        if device == self._meter_device:
            return  # open, or opening, on this microphone already
        if self.task is not None and not self.task.finished:
            return  # a listing is on its way (it may restart PortAudio): started after it
        self._stop_meter()
        self._meter_device = device
        slot, turn = self._slot, self._slot.turn()
        tasks.run(lambda: slot.open(device or None, turn), self._meter_ready,
                  self._meter_failed, "opening the microphone")

    def _meter_ready(self, meter) -> None:
        if meter is None:  # stopped while it opened (and closed again)
            return
        self.meter = meter
        self.level_message.clear()
        self._meter_timer.start()
        self.meter_opened.emit(meter.name)

    def _meter_failed(self, text: str) -> None:
        if self._meter_device is None:
            return  # stopped meanwhile
        self.level.setValue(0)
        self.level_message.show_text(f"The microphone's level cannot be shown: {text}", "error")
        self.meter_opened.emit("")

    def _show_level(self) -> None:
        self.level.setValue(round(100 * self._slot.level()))

    def _stop_meter(self) -> None:
        """Stop showing the level; the stream is closed on a worker thread (a listing
        that restarts PortAudio waits for it)."""
        meter = self._slot.stop()
        self.meter = None
        self._meter_device = None
        self._meter_timer.stop()
        self.level.setValue(0)
        if meter is not None:
            self._closing = _once(meter.close)
            tasks.run(self._closing, what="closing the microphone")

    # --- the speaker's test sound ----------------------------------------------------------

    def play_test_sound(self) -> None:
        if self._playing is not None and not self._playing.finished:
            return
        device = self.output.currentData() or ""
        shown = self.output.currentText()
        self.test_speaker.setEnabled(False)
        self.speaker_message.show_text(f"Playing a sound on “{shown}”…", "info")
        player = self._play_chime
        self._playing = tasks.run(lambda: player(device), self._played, self._play_failed,
                                  "playing the test sound")

    def _played(self, name: str) -> None:
        self.test_speaker.setEnabled(True)
        self.speaker_message.show_text(f"Played a sound on “{name}”. Not heard? Check that "
                                       "it is on and turned up, or choose another speaker.",
                                       "ok")
        self.speaker_tested.emit(True)

    def _play_failed(self, text: str) -> None:
        self.test_speaker.setEnabled(True)
        self.speaker_message.show_text(f"The test sound cannot be played: {text}", "error")
        self.speaker_tested.emit(False)

    # --- settings ----------------------------------------------------------------------

    def load(self, s: AppSettings, secrets: Secrets) -> None:
        self._choose(self.input, s.audio.input_device)
        self._choose(self.output, s.audio.output_device)
        self.echo.setChecked(s.audio.echo_cancellation)
        self.volume.setValue(s.audio.volume)
        self.volume_label.setText(f"{s.audio.volume}%")

    def store(self, s: AppSettings, secrets: Secrets) -> None:
        s.audio.input_device = self.input.currentData() or ""
        s.audio.output_device = self.output.currentData() or ""
        s.audio.echo_cancellation = self.echo.isChecked()
        s.audio.volume = self.volume.value()
