"""Audio devices plugged in or out, as the system tells Qt (QMediaDevices) and, where a
sound server runs, as it tells `pactl subscribe`: PortAudio has no such notice, and
lists devices only when it starts."""

from __future__ import annotations

from PySide6.QtCore import QObject, QProcess, QTimer, Signal

from ..audio.sound_server import CHANGE_LINE, subscribe_command

SETTLE_MS = 300  # one plug-in is often several system events
MAX_LINE = 512  # pactl's event lines are short; anything longer is cut


class DeviceWatch(QObject):
    changed = Signal()  # once per burst of changes

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._settle = QTimer(self, singleShot=True, interval=SETTLE_MS)
        self._settle.timeout.connect(self.changed)
        self._devices = None
        try:  # loaded only where it is wanted; the bundles leave Qt Multimedia out
            from PySide6.QtMultimedia import QMediaDevices
        except ImportError:
            pass  # the sound server's notices below, or the "Look again" button
        else:
            self._devices = QMediaDevices(self)
            self._devices.audioInputsChanged.connect(self._settle.start)
            self._devices.audioOutputsChanged.connect(self._settle.start)
        self._server = None
        command = subscribe_command()
        if command is not None:  # without one, QMediaDevices alone tells
            self._server = QProcess(self)
            self._server.setProgram(command[0])
            self._server.setArguments(command[1:])
            self._server.setProcessChannelMode(QProcess.ProcessChannelMode.ForwardedErrorChannel)
            self._server.readyReadStandardOutput.connect(self._read)
            self._server.start()

    @property
    def following_server(self) -> bool:
        """Whether the sound server's own notices are being read."""
        return self._server is not None and \
            self._server.state() != QProcess.ProcessState.NotRunning

    def _read(self) -> None:
        server = self._server
        while server.canReadLine():
            line = bytes(server.readLine(MAX_LINE)).decode("utf-8", "replace")
            if CHANGE_LINE.search(line):
                self._settle.start()
        if server.bytesAvailable() > MAX_LINE:  # a line with no end: not pactl's
            server.readAll()

    def stop(self) -> None:
        """End the subscription (also done when the watch is deleted)."""
        if self._server is not None and self._server.state() != QProcess.ProcessState.NotRunning:
            self._server.kill()
            self._server.waitForFinished(1000)
