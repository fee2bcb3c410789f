"""The app shell starts without torch and tells the user where the model stands."""

import subprocess
import sys

from arcus_desktop.ui.app import StatusWindow


def test_status_window_explains_a_missing_model(qtbot):
    window = StatusWindow()
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    assert "not installed" in window.status.text()
    assert "arcus-desktop download" in window.status.text()


def test_status_window_names_an_installed_model(qtbot, tiny_model, monkeypatch):
    from arcus_desktop.engine import download

    monkeypatch.setattr(download, "find_cached_model", lambda *a, **k: tiny_model)
    window = StatusWindow()
    qtbot.addWidget(window)
    assert str(tiny_model) in window.status.text()


def test_gui_modules_do_not_import_torch_or_supabase():
    code = ("import sys; import arcus_desktop.ui.app, arcus_desktop.cli; "
            "print('torch' in sys.modules, 'supabase' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"
