"""The app shell starts without torch and tells the user where the model stands."""

import subprocess
import sys

from arcus_desktop.bridge.controller import AppController
from arcus_desktop.ui.app import StatusWindow

from .scripted_engine import ScriptedEngine
from .test_tray import TRACEBACK_HINT


def test_status_window_explains_a_missing_model(qtbot):
    window = StatusWindow()
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    text = window.status.text()
    assert "not installed" in text
    # the way forward in the app, not a command-line flag
    assert "Settings → Engine → Model folder" in text and "Run setup" in text
    assert "--model-dir" not in text and "arcus-desktop download" not in text


def cut_off(window) -> list[str]:
    """The visible labels whose text does not fit them."""
    from PySide6.QtWidgets import QLabel

    return [label.text()[:30] for label in window.findChildren(QLabel) if label.isVisible()
            and (label.height() < label.heightForWidth(label.width()) if label.wordWrap()
                 else label.width() < label.sizeHint().width())]


def test_status_window_text_is_never_cut_off(qtbot):
    from PySide6.QtWidgets import QApplication

    window = StatusWindow()
    qtbot.addWidget(window)
    window.show_hotkey("The global hotkey Ctrl+Alt+Space could not be registered: another "
                       "program uses it. Choose another in Settings → Hotkey.")
    window.show()
    qtbot.waitExposed(window)
    QApplication.processEvents()
    assert not cut_off(window)
    window.resize(260, window.height())  # narrower: the lines wrap again and still fit
    QApplication.processEvents()
    assert not cut_off(window)


def test_status_window_names_an_installed_model(qtbot, tiny_model, monkeypatch):
    from arcus_desktop.engine import download

    monkeypatch.setattr(download, "find_cached_model", lambda *a, **k: tiny_model)
    window = StatusWindow()
    qtbot.addWidget(window)
    assert str(tiny_model) in window.status.text()


def test_status_window_never_shows_a_traceback(qtbot):
    controller = AppController(ScriptedEngine)
    window = StatusWindow()
    qtbot.addWidget(window)
    window.attach(controller)
    controller.start_engine()
    controller.engine.failed.emit("The engine stopped: OSError: I/O error", TRACEBACK_HINT)
    assert window.state_line.text() == "The engine stopped: OSError: I/O error It is restarting."


def test_gui_modules_do_not_import_torch_or_supabase():
    code = ("import sys; import arcus_desktop.ui.app, arcus_desktop.cli; "
            "print('torch' in sys.modules, 'supabase' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"
