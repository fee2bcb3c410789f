"""A running Arcus Desktop for the single-instance tests, as its own process: the real
instance server and app wiring, a scripted engine instead of the model.

    python instance_app.py serve   prints "up", then "state <state>" on every change;
                                   quits on a line "quit" on stdin
    python instance_app.py crash   takes the instance, prints "up", kills itself (SIGKILL)
"""

import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from PySide6.QtCore import QSocketNotifier  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from arcus_desktop.bridge import single_instance  # noqa: E402
from arcus_desktop.bridge.hotkey import HotkeyError  # noqa: E402
from arcus_desktop.ui.app import ArcusApp  # noqa: E402
from tests.qt.scripted_engine import ScriptedEngine  # noqa: E402


def no_hotkey(parent=None):
    raise HotkeyError("No hotkey in this test.")


def main() -> None:
    mode = sys.argv[1]
    app = QApplication(sys.argv)
    instance = single_instance.claim()
    if instance is None:
        print("taken", flush=True)
        raise SystemExit(3)
    if mode == "crash":
        print("up", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    arcus = ArcusApp(engine_factory=lambda: ScriptedEngine(auto=True), instance=instance,
                     hotkey_backend=no_hotkey, tray=False)
    last = [None]

    def report():
        if arcus.controller.state != last[0]:
            last[0] = arcus.controller.state
            print(f"state {last[0]}", flush=True)

    arcus.controller.changed.connect(report)
    stdin = QSocketNotifier(sys.stdin.fileno(), QSocketNotifier.Type.Read)

    def read_stdin():
        line = sys.stdin.readline()
        if not line or line.strip() == "quit":
            stdin.setEnabled(False)
            app.quit()

    stdin.activated.connect(read_stdin)
    app.aboutToQuit.connect(arcus.shutdown)
    print("up", flush=True)
    report()
    app.exec()
    print("bye", flush=True)


if __name__ == "__main__":
    main()
