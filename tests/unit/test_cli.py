"""What the command line tells a user when things go wrong, and `doctor`."""

import subprocess
import sys

from arcus_desktop import cli
from arcus_desktop.core.errors import ArcusError


def test_user_errors_print_message_and_hint(monkeypatch, capsys):
    def boom(args):
        raise ArcusError("The thing broke.", "Do this next.")

    monkeypatch.setitem(cli.COMMANDS, "doctor", boom)
    assert cli.main(["doctor"]) == 2
    err = capsys.readouterr().err
    assert err == "error: The thing broke.\n  Do this next.\n"


def test_unexpected_errors_are_logged_not_shown(monkeypatch, capsys, tmp_path):
    def boom(args):
        raise RuntimeError("kaboom")

    monkeypatch.setitem(cli.COMMANDS, "doctor", boom)
    assert cli.main(["doctor"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "kaboom" in err
    log = tmp_path / "data" / "logs" / "crash.log"
    assert "Traceback" in log.read_text() and str(log) in err


def test_gpu_out_of_memory_gets_a_way_forward(monkeypatch, capsys):
    class OutOfMemoryError(RuntimeError):
        pass

    def boom(args):
        raise OutOfMemoryError("CUDA out of memory")

    monkeypatch.setitem(cli.COMMANDS, "doctor", boom)
    assert cli.main(["doctor"]) == 2
    assert "GPU ran out of memory" in capsys.readouterr().err


def test_doctor_reports_every_part(capsys):
    assert cli.main(["doctor"]) == 0
    out = capsys.readouterr().out
    for key in ("arcus-desktop", "python", "torch", "gpu", "model", "memory database",
                "memory embeddings", "audio", "keyring"):
        assert any(line.startswith(key) for line in out.splitlines()), key
    assert "sqlite-vec loaded" in out  # through a fallback module where sqlite3 cannot
    assert "not installed" in out  # no model in this test's data dir


def doctor_line(capsys, key: str, own_process: bool = False) -> str:
    """The value on `doctor`'s line for `key`; `own_process` for the saved settings (Qt
    reads the settings folder once per process)."""
    if own_process:
        out = subprocess.run([sys.executable, "-m", "arcus_desktop", "doctor"],
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        lines = out.stdout.splitlines()
    else:
        assert cli.main(["doctor"]) == 0
        lines = capsys.readouterr().out.splitlines()
    line = next(line for line in lines if line.startswith(f"{key} "))
    return line.split(None, len(key.split()))[-1]


def test_doctor_reports_the_saved_team_server_mode(capsys, tmp_path):
    conf = tmp_path / "config" / "Arcus" / "arcus-desktop.conf"  # XDG_CONFIG_HOME (conftest)
    conf.parent.mkdir(parents=True)
    conf.write_text("[engine]\nmode=server\nserver_url=https://gpu-box:8998\n")
    line = doctor_line(capsys, "engine mode", own_process=True)
    assert line.startswith("Team server, https://gpu-box:8998 (saved in Settings)"), line

    conf.write_text("[engine]\nmode=int8\n")
    line = doctor_line(capsys, "engine mode", own_process=True)
    assert line.startswith("Low memory: 8-bit weights (saved")


def test_doctor_reports_automatic_with_what_it_would_pick(capsys):
    line = doctor_line(capsys, "engine mode", own_process=True)
    assert line.startswith("Automatic (chosen by free GPU memory): here it would pick "), line


def test_doctor_names_the_password_store(capsys, os_keyring):
    assert doctor_line(capsys, "keyring") == "Secret Service"


def test_doctor_says_when_there_is_no_password_store(capsys, monkeypatch):
    import keyring
    from keyring.backends import fail

    monkeypatch.setattr(keyring, "get_keyring", lambda: fail.Keyring())
    line = doctor_line(capsys, "keyring")
    assert line.startswith("none: ") and "GNOME Keyring or KWallet" in line


def test_a_tray_app_started_from_the_menu_says_a_failed_start_in_a_window(tmp_path):
    # Started from the desktop entry, nothing shows stderr: the message and its way
    # forward come in a window (closed here by a timer, as a user would). A real Qt
    # window, offscreen, in a child process.
    code = """if True:
        import os, sys
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QApplication
        app = QApplication([])
        seen = []
        def close():
            box = QApplication.activeModalWidget()
            if box is None:
                return QTimer.singleShot(20, close)
            seen.append((box.text(), box.informativeText()))
            box.accept()
        QTimer.singleShot(0, close)
        from arcus_desktop import cli
        code = cli.main(["--window-errors", "--model-dir", sys.argv[1]])
        print(code, *seen[0], sep="|")
    """
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "no-model")],
                          capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})
    assert done.returncode == 0, done.stderr
    exit_code, message, hint = done.stdout.strip().splitlines()[-1].split("|")
    assert exit_code == "2" and "no-model" in message and "cannot be used" in message
    assert hint and hint in done.stderr  # the same words the terminal got


def test_without_the_flag_a_failed_start_is_only_printed(capsys, tmp_path):
    assert cli.main(["--model-dir", str(tmp_path / "no-model")]) == 2  # no window, no wait
    assert "cannot be used" in capsys.readouterr().err


def test_the_login_start_asks_for_errors_in_a_window():
    # (the menu's desktop entry: test_installers.py)
    from arcus_desktop.settings import autostart

    assert autostart.command()[-1] == "--window-errors"
