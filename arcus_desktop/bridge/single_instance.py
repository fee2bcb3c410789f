"""One running app per user: a second launch hands its wish to the first and exits.

The first instance holds an OS file lock (released by the kernel when the process
ends, however it ends) and listens on a local socket (a Unix socket, a named pipe on
Windows). A later launch that cannot take the lock connects to the socket instead and
sends one command: `activate` (bring the window forward) or `toggle` (start or end a
conversation: what `arcus-desktop --toggle` sends, for a key bound in the desktop's own
keyboard settings where no global hotkey of ours works).

A crash leaves the Unix socket file behind; whoever takes the lock next removes it
before listening, so a stale socket never blocks a start.

Wire format: one JSON line each way, `{"command": "toggle"}` then
`{"ok": true, "message": "..."}`.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QCoreApplication, QDeadlineTimer, QDir, QObject, QThread, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from ..core import paths

COMMANDS = ("activate", "toggle")
CONNECT_MS = 3000  # a first instance that holds the lock may still be starting to listen
REPLY_MS = 5000


def _key() -> str:
    """Per user and per data folder (two data folders are two separate apps)."""
    user = re.sub(r"[^A-Za-z0-9_-]", "_", getpass.getuser() or "user")[:32]
    where = str(paths.data_dir().resolve())
    return f"{user}-{hashlib.sha1(where.encode()).hexdigest()[:10]}"


def socket_name() -> str:
    """The local server's name: a path in the user's private runtime folder where there is
    one, else a name Qt places in the temp folder (Unix) or the pipe namespace (Windows)."""
    name = f"arcus-desktop-{_key()}"
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if sys.platform != "win32" and runtime and os.path.isdir(runtime):
        path = os.path.join(runtime, name + ".sock")
        if len(path.encode()) < 100:  # sun_path holds 108 bytes
            return path
    return name


def _socket_file(name: str) -> Path | None:
    """Where a Unix socket of that name lives (None on Windows: a pipe is no file and
    goes with its process)."""
    if sys.platform == "win32":
        return None
    return Path(name if os.path.isabs(name) else os.path.join(QDir.tempPath(), name))


def lock_path() -> Path:
    return paths.data_dir() / "instance.lock"


class _FileLock:
    """An exclusive lock the OS drops when the process ends, crash or not."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None

    def try_lock(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if sys.platform == "win32":
                import msvcrt

                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        return True

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing drops the lock
            self.fd = None


class InstanceServer(QObject):
    """The running instance's end: answers commands from later launches.

    `handler(command)` returns the message sent back (it runs on the GUI thread)."""

    command_received = Signal(str)

    def __init__(self, lock: _FileLock, handler: Callable[[str], str] | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.lock = lock
        self.handler = handler or (lambda command: "")
        self.name = socket_name()
        self.server = QLocalServer(self)
        self.server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        # We hold the lock, so nobody listens: a socket file there is a crashed instance's.
        stale = _socket_file(self.name)
        self.stale_removed = bool(stale and stale.exists() and QLocalServer.removeServer(self.name))
        if not self.server.listen(self.name):
            raise OSError(f"cannot listen on {self.name}: {self.server.errorString()}")
        self.server.newConnection.connect(self._accept)

    def _accept(self) -> None:
        while (socket := self.server.nextPendingConnection()) is not None:
            socket.setParent(self)
            socket.readyRead.connect(lambda s=socket: self._read(s))
            socket.disconnected.connect(socket.deleteLater)
            if socket.canReadLine():
                self._read(socket)

    def _read(self, socket: QLocalSocket) -> None:
        if not socket.canReadLine():
            if socket.bytesAvailable() > 4096:
                socket.abort()
            return
        line = bytes(socket.readLine()).decode("utf-8", "replace")
        try:
            command = str(json.loads(line).get("command", ""))
        except (ValueError, AttributeError):
            command = ""
        if command not in COMMANDS:
            reply = {"ok": False, "message": f"unknown command {command!r}"}
        else:
            self.command_received.emit(command)
            try:
                reply = {"ok": True, "message": self.handler(command) or ""}
            except Exception as e:  # the caller is another process: tell it, stay up
                reply = {"ok": False, "message": f"{type(e).__name__}: {e}"}
        socket.write((json.dumps(reply) + "\n").encode())
        socket.flush()
        socket.disconnectFromServer()

    def close(self) -> None:
        self.server.close()  # removes the socket file
        self.lock.release()


def acquire() -> _FileLock | None:
    """Take the per-user instance lock (no Qt needed); None when another instance has it.
    Hand it to InstanceServer once the QApplication exists."""
    lock = _FileLock(lock_path())
    return lock if lock.try_lock() else None


def claim(handler: Callable[[str], str] | None = None,
          parent: QObject | None = None) -> InstanceServer | None:
    """Become the running instance; None when another one already is."""
    lock = acquire()
    if lock is None:
        return None
    try:
        return InstanceServer(lock, handler, parent)
    except Exception:
        lock.release()
        raise


@dataclass
class Reply:
    ok: bool
    message: str


class NotRunning(Exception):
    """No instance of the app runs for this user."""


class NotResponding(Exception):
    """An instance runs (it holds the lock) but does not answer."""


def is_running() -> bool:
    lock = _FileLock(lock_path())
    if lock.try_lock():
        lock.release()
        return False
    return True


def send(command: str, connect_ms: int = CONNECT_MS, reply_ms: int = REPLY_MS) -> Reply:
    """Send one command to the running instance and return its answer.

    Raises NotRunning when none runs, NotResponding when one runs but does not answer."""
    if command not in COMMANDS:
        raise ValueError(command)
    if QCoreApplication.instance() is None:  # QLocalSocket wants one, even blocking
        send.app = QCoreApplication([sys.argv[0] if sys.argv else "arcus-desktop"])
    if command == "activate" and sys.platform == "win32":
        import ctypes  # let the running instance take the foreground from us

        ctypes.windll.user32.AllowSetForegroundWindow(-1)  # ASFW_ANY
    socket = QLocalSocket()
    deadline = QDeadlineTimer(connect_ms)
    while True:
        socket.connectToServer(socket_name())
        if socket.waitForConnected(max(1, min(500, deadline.remainingTime()))):
            break
        if not is_running():
            raise NotRunning()
        if deadline.hasExpired():
            raise NotResponding()
        QThread.msleep(50)  # it holds the lock and is about to listen
    socket.write((json.dumps({"command": command}) + "\n").encode())
    socket.flush()
    deadline = QDeadlineTimer(reply_ms)
    while not socket.canReadLine():
        if deadline.hasExpired() or not socket.waitForReadyRead(max(1, deadline.remainingTime())):
            if not socket.canReadLine():
                raise NotResponding()
    data = json.loads(bytes(socket.readLine()).decode("utf-8", "replace"))
    socket.disconnectFromServer()
    return Reply(bool(data.get("ok")), str(data.get("message", "")))
