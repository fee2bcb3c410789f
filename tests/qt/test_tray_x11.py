"""The real tray icon: Xvfb with trayer as the tray host, the app on Qt's xcb platform
in its own process (tray_x11_app.py; this test process is offscreen). Checks that the
tray is available and takes the icon in, that a real click on it starts a conversation,
that each state repaints the icon the host shows, and that an error pops up Qt's
notification balloon. Its pictures go to $ARCUS_SCREENSHOTS (or the temp folder)."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

from ..xserver import need, x_env, xvfb

HELPER = Path(__file__).with_name("tray_x11_app.py")
ROOT = Path(__file__).resolve().parents[2]


def test_the_real_tray_under_x11(tmp_path):
    need("xdotool")
    with xvfb() as display:
        env = x_env(display)
        host = subprocess.Popen([need("trayer"), "--edge", "top", "--align", "right"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            out = tmp_path / "tray_x11.png"
            env.update(QT_QPA_PLATFORM="xcb", PYTHONPATH=str(ROOT))
            run = subprocess.run([sys.executable, str(HELPER), str(out)], env=env, cwd=ROOT,
                                 capture_output=True, text=True, timeout=180)
        finally:
            host.terminate()
            host.wait(10)
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["platform"] == "xcb"
    assert report["available"] and report["tray"], "isSystemTrayAvailable() under trayer"
    assert report["embedded"] and report["geometry"][2] > 0
    assert report["click_started_talk"], "a left click on the icon starts talking"
    assert report["states"] == ["idle", "loading", "loading", "listening", "speaking",
                                "muted", "error"]
    assert all(report["repainted"]) and report["distinct"] == 7
    assert report["notified"], "the error notification balloon"
    assert "microphone stopped" in report["tooltip"]
    assert report["saved"] and report["corner_saved"]

    sheet = QImage(str(out))
    assert not sheet.isNull()
    colours = {sheet.pixel(x, y) for x in range(0, sheet.width(), 2)
               for y in range(0, sheet.height(), 2)}
    assert len(colours) > 40  # icons, not a blank grab
    keep = Path(os.environ.get("ARCUS_SCREENSHOTS") or tempfile.gettempdir())
    keep.mkdir(parents=True, exist_ok=True)
    for picture in (out, out.with_name("tray_x11_notification.png")):
        shutil.copy(picture, keep / picture.name)


LAUNCH = """
import sys
from PySide6.QtCore import QDeadlineTimer, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialog, QMainWindow, QSystemTrayIcon
app = QApplication(sys.argv)
deadline = QDeadlineTimer(15_000)  # X11 has no signal for a tray host appearing
while not QSystemTrayIcon.isSystemTrayAvailable() and not deadline.hasExpired():
    QTest.qWait(20)
from arcus_desktop.ui import app as shell
def report():
    shown = sorted(type(w).__name__ for w in QApplication.topLevelWidgets() if w.isVisible()
                   and isinstance(w, (QMainWindow, QDialog)))  # not the tray's own window
    print("shown", *shown, flush=True)
    app.quit()
QTimer.singleShot(0, report)
sys.exit(shell.run([]))
"""


@pytest.mark.parametrize("configured", [False, True])
def test_a_launch_with_a_tray_opens_only_what_needs_the_user(tmp_path, configured):
    """With a tray, a normal launch opens no window (the tray is the app); before setup
    the wizard opens, and only it."""
    with xvfb() as display:
        env = x_env(display)
        host = subprocess.Popen([need("trayer"), "--edge", "top", "--align", "right"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            config = tmp_path / "config"
            if configured:  # a team server saved by an earlier setup
                (config / "Arcus").mkdir(parents=True)
                (config / "Arcus" / "arcus-desktop.conf").write_text(
                    "[engine]\nmode=server\nserver_url=https://gpu-box:8998\n")
            env.update(QT_QPA_PLATFORM="xcb", PYTHONPATH=str(ROOT), XDG_CONFIG_HOME=str(config),
                       XDG_RUNTIME_DIR=str(tmp_path))
            run = subprocess.run([sys.executable, "-c", LAUNCH], env=env, cwd=ROOT,
                                 capture_output=True, text=True, timeout=180)
        finally:
            host.terminate()
            host.wait(10)
    assert run.returncode == 0, run.stderr[-2000:]
    shown = next(line for line in run.stdout.splitlines() if line.startswith("shown")).split()[1:]
    assert shown == ([] if configured else ["FirstRunWizard"])
