"""Audio devices plugged in or out, as the system tells Qt (QMediaDevices): PortAudio
has no such notice, and lists devices only when it starts."""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal

SETTLE_MS = 300  # one plug-in is often several system events


class DeviceWatch(QObject):
    changed = Signal()  # once per burst of changes

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        from PySide6.QtMultimedia import QMediaDevices  # loaded only where it is wanted

        self._devices = QMediaDevices(self)
        self._settle = QTimer(self, singleShot=True, interval=SETTLE_MS)
        self._settle.timeout.connect(self.changed)
        self._devices.audioInputsChanged.connect(self._settle.start)
        self._devices.audioOutputsChanged.connect(self._settle.start)
