"""Audio: microphone and speaker (by name: PortAudio's numbers change between runs),
echo cancellation and volume."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QLabel, QPushButton, QSlider

from ...bridge import tasks
from ...settings.app_settings import AppSettings, Secrets
from .common import Message, Page, row

SYSTEM_DEFAULT = "System default"


class AudioPage(Page):
    title = "Audio"
    devices_listed = Signal()

    def __init__(self, current, list_devices, parent=None) -> None:
        super().__init__(current, parent)
        self._list_devices = list_devices  # blocking (PortAudio): called on a worker thread
        self.input = QComboBox()
        self.output = QComboBox()
        for combo in (self.input, self.output):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(16)
            combo.addItem(SYSTEM_DEFAULT, "")
        self.refresh = QPushButton("&Look for devices again")
        self.refresh.clicked.connect(lambda: self.list_devices(refresh=True))
        self.devices_message = Message()
        self.add_field("audio/input_device", "&Microphone:", self.input)
        self.add_field("audio/output_device", "&Speaker:", self.output,
                       extra=(row(self.refresh), self.devices_message))

        self.echo = QCheckBox("&Echo cancellation")
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
        self._wanted = ("", "")  # saved names, chosen again once the list arrives
        self.task = None
        self.watch = None  # follows devices plugged in or out while the page is shown

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self.watch is None:
            from ...bridge.device_watch import DeviceWatch

            self.watch = DeviceWatch(self)
            self.watch.changed.connect(lambda: self.list_devices(refresh=True))

    def list_devices(self, refresh: bool = False) -> None:
        if self.task is not None and not self.task.finished:
            return  # a listing is on its way
        self.refresh.setEnabled(False)
        self.devices_message.show_text("Looking for audio devices…", "info")
        lister = self._list_devices
        self.task = tasks.run(lambda: lister(refresh=refresh), self._listed, self._list_failed,
                              "listing audio devices")

    def _listed(self, devices) -> None:
        self.refresh.setEnabled(True)
        self.devices_message.clear()
        keep = (self.input.currentData(), self.output.currentData())
        self._fill(self.input, [d.name for d in devices if d.inputs > 0], keep[0])
        self._fill(self.output, [d.name for d in devices if d.outputs > 0], keep[1])
        if not devices:
            self.devices_message.show_text("No audio devices were found. Plug one in, then "
                                           "look again.", "error")
        self.devices_listed.emit()

    def _list_failed(self, text: str) -> None:
        self.refresh.setEnabled(True)
        self.devices_message.show_text(f"The audio devices cannot be listed: {text}", "error")
        self.devices_listed.emit()

    def _fill(self, combo: QComboBox, names: list[str], keep: str) -> None:
        with self.quietly():
            combo.clear()
            combo.addItem(SYSTEM_DEFAULT, "")
            for name in names:
                combo.addItem(name, name)
            self._choose(combo, keep)

    @staticmethod
    def _choose(combo: QComboBox, name: str) -> None:
        index = combo.findData(name)
        if index < 0:  # saved, but not plugged in now: keep it rather than lose it
            combo.addItem(f"{name} (not connected)", name)
            index = combo.count() - 1
        combo.setCurrentIndex(index)

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
