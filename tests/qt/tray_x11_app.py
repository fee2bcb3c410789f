"""The app's real tray icon on a real X server with a tray host (run by
test_tray_x11.py with DISPLAY set and QT_QPA_PLATFORM=xcb; the test process itself is
offscreen). Takes the icon through every state, grabs the tray from the screen each
time, clicks the icon with xdotool, and prints one JSON line with what it saw.

    python tray_x11_app.py OUT.png
"""

import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from PySide6.QtCore import QDeadlineTimer  # noqa: E402
from PySide6.QtGui import QColor, QGuiApplication, QImage, QPainter  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication, QSystemTrayIcon  # noqa: E402

from arcus_desktop.bridge.hotkey import HotkeyError  # noqa: E402
from arcus_desktop.ui.app import ArcusApp  # noqa: E402
from tests.qt.scripted_engine import ScriptedEngine  # noqa: E402

WAIT_MS = 15_000


def wait_for(condition, timeout_ms: int = WAIT_MS) -> bool:
    """Process events until `condition()` holds (True) or the time is up (False): X11 has
    no signal for a tray host appearing or for the host having repainted an icon."""
    deadline = QDeadlineTimer(timeout_ms)
    while not condition():
        if deadline.hasExpired():
            return False
        QTest.qWait(20)
    return True


def no_hotkey(parent=None):
    raise HotkeyError("Not in this test.")


def main() -> None:
    out = Path(sys.argv[1])
    app = QApplication(sys.argv)
    report = {"platform": QGuiApplication.platformName()}
    report["available"] = wait_for(QSystemTrayIcon.isSystemTrayAvailable, WAIT_MS)
    engines = []

    def engine():
        engines.append(ScriptedEngine())
        return engines[-1]

    arcus = ArcusApp(engine_factory=engine, hotkey_backend=no_hotkey)
    report["tray"] = arcus.tray is not None
    if arcus.tray is None:
        print(json.dumps(report), flush=True)
        return
    tray, c = arcus.tray, arcus.controller
    # Embedded: the host (trayer, at the screen's right edge) has taken the icon in.
    report["embedded"] = wait_for(lambda: tray.icon.geometry().x() > 0, WAIT_MS)
    g = tray.icon.geometry()
    report["geometry"] = [g.x(), g.y(), g.width(), g.height()]
    screen = QGuiApplication.primaryScreen()
    area = g.adjusted(-6, -6, 6, 6)

    def grab() -> QImage:
        return screen.grabWindow(0, area.x(), area.y(), area.width(), area.height()).toImage()

    shots = []

    def shoot(label: str) -> None:
        before = shots[-1][1] if shots else None
        image = [grab()]

        def repainted() -> bool:  # the tray host shows the new icon
            image[0] = grab()
            return before is None or image[0] != before

        changed = wait_for(repainted, WAIT_MS)
        shots.append((label, image[0], changed, c.state))

    shoot("idle")
    # A real left click on the icon, where the tray host shows it.
    centre = g.center()
    subprocess.run(["xdotool", "mousemove", "--sync", str(centre.x()), str(centre.y()),
                    "click", "1"], check=True, timeout=30)
    report["click_started_talk"] = wait_for(lambda: c.want_talk, WAIT_MS)
    e = engines[-1] if engines else None
    if e is not None:
        shoot("loading")  # 0%: the engine process is starting
        e.loading.emit(0.6, "Language model")
        shoot("loading 60%")
        e.state_changed.emit("ready", "")
        e.state_changed.emit("talking", c.conversation or "")
        shoot("listening")
        e.levels.emit(0.0, 0.4)
        shoot("speaking")
        c.set_muted(True)
        shoot("muted")
        e.failed.emit("The microphone stopped delivering audio.", "Check that it is plugged in.")
        shoot("error")
        # Without a notification daemon Qt shows its own balloon by the icon.
        report["notified"] = wait_for(lambda: any(
            w.metaObject().className() == "QBalloonTip" and w.isVisible()
            for w in QApplication.topLevelWidgets()))
        corner = screen.geometry().adjusted(screen.geometry().width() - 440, 0, 0, -380)
        QTest.qWait(0)
        report["corner_saved"] = screen.grabWindow(
            0, corner.x(), corner.y(), corner.width(), corner.height()).save(
            str(out.with_name(out.stem + "_notification.png")))
    report["states"] = [s[3] for s in shots]
    report["repainted"] = [s[2] for s in shots]
    report["tooltip"] = tray.icon.toolTip()

    scale = 4
    w, h = area.width() * scale, area.height() * scale
    sheet = QImage((w + 8) * len(shots) + 8, h + 16, QImage.Format.Format_ARGB32)
    sheet.fill(QColor("#ffffff"))
    p = QPainter(sheet)
    for i, (_label, image, _changed, _state) in enumerate(shots):
        p.drawImage(8 + i * (w + 8), 8, image.scaled(w, h))
    p.end()
    out.parent.mkdir(parents=True, exist_ok=True)
    report["saved"] = sheet.save(str(out))
    report["distinct"] = len({bytes(s[1].convertToFormat(QImage.Format.Format_RGB32).constBits())
                              for s in shots})
    arcus.shutdown()
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
