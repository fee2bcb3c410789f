"""One running app per user: real second processes against a running instance.

The running instance is either this test process (ArcusApp with its instance server) or
tests/qt/instance_app.py in its own process; the later launches are the real
`python -m arcus_desktop` and `python -m arcus_desktop --toggle`. Every wait is on a Qt
signal (a process's output or exit, the server's command_received)."""

import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QProcess, QProcessEnvironment

from arcus_desktop import cli
from arcus_desktop.bridge import single_instance
from arcus_desktop.bridge.hotkey import HotkeyError
from arcus_desktop.ui.app import ArcusApp

from .scripted_engine import ScriptedEngine

ROOT = Path(__file__).resolve().parents[2]
HELPER = Path(__file__).with_name("instance_app.py")
WAIT_MS = 30_000  # a cold Python start with PySide6 on a busy 2-core machine


def no_hotkey(parent=None):
    raise HotkeyError("No hotkey in this test.")


class Proc:
    """A child process whose stdout is collected as it comes."""

    def __init__(self, qtbot, *args: str):
        self.qtbot = qtbot
        self.p = QProcess()
        env = QProcessEnvironment.systemEnvironment()  # ARCUS_DATA_DIR of this test
        env.insert("PYTHONPATH", str(ROOT))
        env.insert("QT_QPA_PLATFORM", "offscreen")
        self.p.setProcessEnvironment(env)
        self.p.setWorkingDirectory(str(ROOT))
        self.out = ""
        self.p.readyReadStandardOutput.connect(self._read)
        self.p.start(sys.executable, list(args))
        assert self.p.waitForStarted(WAIT_MS)

    def _read(self):
        self.out += bytes(self.p.readAllStandardOutput()).decode()

    def wait_line(self, line: str) -> None:
        while line not in self.out.splitlines():
            assert self.p.state() != QProcess.ProcessState.NotRunning, (line, self.out,
                                                                         self.err())
            with self.qtbot.waitSignal(self.p.readyReadStandardOutput, timeout=WAIT_MS):
                pass

    def wait_finished(self) -> int:
        if self.p.state() != QProcess.ProcessState.NotRunning:
            with self.qtbot.waitSignal(self.p.finished, timeout=WAIT_MS):
                pass
        self._read()
        return self.p.exitCode()

    def err(self) -> str:
        return bytes(self.p.readAllStandardError()).decode()

    def kill(self):
        if self.p.state() != QProcess.ProcessState.NotRunning:
            self.p.kill()
            self.p.waitForFinished(WAIT_MS)


@pytest.fixture
def procs(qtbot):
    started = []

    def start(*args):
        started.append(Proc(qtbot, *args))
        return started[-1]

    yield start
    for proc in started:
        proc.kill()


def socket_path() -> Path:
    return single_instance._socket_file(single_instance.socket_name())


def test_a_second_launch_brings_the_first_forward_and_exits(qtbot, procs):
    instance = single_instance.claim()
    assert instance is not None and single_instance.claim() is None  # one holder at a time
    arcus = ArcusApp(engine_factory=ScriptedEngine, instance=instance,
                     hotkey_backend=no_hotkey, tray=False)
    qtbot.addWidget(arcus.window)
    try:
        assert not arcus.window.isVisible()
        with qtbot.waitSignal(instance.command_received, timeout=WAIT_MS) as got:
            second = procs("-m", "arcus_desktop")
        assert got.args == ["activate"]
        assert second.wait_finished() == 0, second.err()
        assert "already running; brought it to the front" in second.out
        assert arcus.window.isVisible()  # brought forward
        assert arcus.controller.engine is None  # and nothing else happened
    finally:
        arcus.shutdown()


def test_toggle_starts_and_ends_a_conversation_in_the_running_app(qtbot, procs):
    app = procs(str(HELPER), "serve")
    app.wait_line("up")
    app.wait_line("state idle")

    toggle = procs("-m", "arcus_desktop", "--toggle")
    assert toggle.wait_finished() == 0, toggle.err()
    assert toggle.out.startswith("Starting a conversation")
    app.wait_line("state listening")  # the engine loaded and the conversation began

    toggle = procs("-m", "arcus_desktop", "--toggle")
    assert toggle.wait_finished() == 0, toggle.err()
    assert toggle.out.startswith("Ended the conversation")
    app.wait_line("state ready")

    app.p.write(b"quit\n")
    assert app.wait_finished() == 0 and "bye" in app.out
    assert not socket_path().exists()  # a clean exit removes its socket

    toggle = procs("-m", "arcus_desktop", "--toggle")
    assert toggle.wait_finished() == 2
    assert "Arcus Desktop is not running" in toggle.err()


def test_toggle_says_clearly_when_no_instance_runs(capsys):
    assert cli.main(["--toggle"]) == 2
    err = capsys.readouterr().err
    assert "error: Arcus Desktop is not running" in err
    assert "Start it with `arcus-desktop`" in err


def test_a_crash_leaves_a_stale_socket_that_the_next_start_removes(qtbot, procs):
    crashed = procs(str(HELPER), "crash")
    crashed.wait_finished()
    assert crashed.p.exitStatus() == QProcess.ExitStatus.CrashExit and "up" in crashed.out
    assert socket_path().exists()  # left behind by the killed process
    assert not single_instance.is_running()  # its lock went with it

    toggle = procs("-m", "arcus_desktop", "--toggle")  # refused connection: not running
    assert toggle.wait_finished() == 2 and "not running" in toggle.err()

    instance = single_instance.claim()
    assert instance is not None and instance.stale_removed
    try:
        with qtbot.waitSignal(instance.command_received, timeout=WAIT_MS) as got:
            second = procs("-m", "arcus_desktop")
        assert got.args == ["activate"] and second.wait_finished() == 0
    finally:
        instance.close()


def test_garbage_on_the_socket_gets_an_answer_and_the_server_stays_up(qtbot):
    from PySide6.QtNetwork import QLocalSocket

    instance = single_instance.claim()
    try:
        socket = QLocalSocket()
        socket.connectToServer(instance.name)
        socket.write(b'{"command": "format-disk"}\n')
        while not socket.canReadLine():
            with qtbot.waitSignal(socket.readyRead, timeout=WAIT_MS):
                pass
        assert b"unknown command" in bytes(socket.readLine())
        assert instance.server.isListening()
    finally:
        instance.close()


def test_the_real_app_starts_hands_over_and_quits_cleanly(qtbot, procs):
    """`arcus-desktop` itself (ui.app.run): up, a second launch hands over, SIGTERM quits."""
    first = procs("-m", "arcus_desktop")
    first.wait_line("Arcus Desktop is running.")
    assert socket_path().exists()
    second = procs("-m", "arcus_desktop")
    assert second.wait_finished() == 0, second.err()
    assert "already running" in second.out
    first.p.terminate()  # SIGTERM
    assert first.wait_finished() == 0, first.err()
    assert first.p.exitStatus() == QProcess.ExitStatus.NormalExit
    assert not socket_path().exists() and not single_instance.is_running()
    assert "Traceback" not in first.err()
