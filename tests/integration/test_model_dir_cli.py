"""Issue #16 item 1 from the command line: `arcus-desktop --model-dir DIR` starts the tray
app on that folder (refused as "invalid choice" before), a bad folder is refused with
what is wrong, every command that uses the model takes --model-dir (before or after
its name), and the engine process loads the folder the settings name. Real processes:
the app under Qt's offscreen platform, the CLI, the engine host on the CPU."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from arcus_desktop.bridge.engine_supervisor import EngineSupervisor
from arcus_desktop.bridge.settings_store import QSettingsStore, SettingsService
from arcus_desktop.engine.testkit import TEST_VOICES
from arcus_desktop.ui.session import host_config

ROOT = Path(__file__).resolve().parents[2]
WAIT_MS = 120_000

RUN_APP = """
import sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
app = QApplication(sys.argv)
from arcus_desktop import cli
from arcus_desktop.bridge.settings_store import SettingsService
def report():
    shown = sorted(type(w).__name__ for w in QApplication.topLevelWidgets() if w.isVisible())
    print("shown", *shown, flush=True)
    status = [w for w in QApplication.topLevelWidgets() if type(w).__name__ == "StatusWindow"]
    print("status", status[0].status.text(), flush=True)
    print("saved", SettingsService().settings.engine.model_dir, flush=True)
    app.quit()
QTimer.singleShot(0, report)
sys.exit(cli.main(sys.argv[1:]))
"""


def run(args: list[str], code: str | None = None, timeout: int = 180):
    env = dict(os.environ, PYTHONPATH=str(ROOT), PATH=f"{Path(sys.executable).parent}:/usr/bin:/bin")
    command = [sys.executable, "-c", code, *args] if code else \
        [sys.executable, "-m", "arcus_desktop", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)


def test_the_tray_app_starts_on_a_model_folder_and_keeps_it(tiny_model):
    out = run(["--model-dir", str(tiny_model)], RUN_APP)
    assert out.returncode == 0, out.stderr
    assert "invalid choice" not in out.stderr
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines() if " " in line)
    assert "FirstRunWizard" not in lines["shown"]  # the model is there: no setup
    assert f"installed in {tiny_model}" in lines["status"]
    assert lines["saved"] == str(tiny_model)  # Settings > Engine > Model folder


def test_the_tray_app_refuses_a_folder_that_lacks_files(tiny_model, tmp_path):
    folder = tmp_path / "half"
    folder.mkdir()
    (folder / "config.json").write_bytes((tiny_model / "config.json").read_bytes())
    out = run(["--model-dir", str(folder)], RUN_APP)
    assert out.returncode == 2
    assert "model.safetensors is missing" in out.stderr
    assert "voices.tgz is missing" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("before", [True, False])
def test_voices_and_doctor_take_the_model_folder(tiny_model, before):
    where = ["--model-dir", str(tiny_model)]
    out = run([*where, "voices"] if before else ["voices", *where])
    assert out.returncode == 0, out.stderr
    # One voice a line, its code first ("NATF2 — natural, female").
    assert [line.split()[0] for line in out.stdout.splitlines()] == sorted(TEST_VOICES)
    out = run([*where, "doctor"] if before else ["doctor", *where])
    assert out.returncode == 0, out.stderr
    model_line = next(line for line in out.stdout.splitlines() if line.startswith("model "))
    assert str(tiny_model) in model_line


def test_commands_without_a_model_say_so():
    out = run(["--model-dir", "/tmp", "sync", "print-schema"])
    assert out.returncode == 2 and "sync does not use a model folder" in out.stderr


def test_the_engine_loads_the_folder_the_settings_name(qtbot, tiny_model, tmp_path):
    service = SettingsService(QSettingsStore.ini_file(tmp_path / "arcus.ini"))
    s = service.settings
    s.engine.model_dir = str(tiny_model)
    s.engine.mode = "cpu"  # Processor only: no GPU here
    service.apply(s)
    config = host_config(service.settings)
    assert (config.model_dir, config.device) == (str(tiny_model), "cpu")
    supervisor = EngineSupervisor(config)
    states, failures = [], []
    supervisor.state_changed.connect(lambda state, _detail: states.append(state))
    supervisor.failed.connect(lambda message, hint: failures.append(message))
    try:
        qtbot.waitUntil(lambda: "ready" in states or bool(failures), timeout=WAIT_MS)
        assert failures == [] and "ready" in states
    finally:
        supervisor.shutdown(timeout_s=10)
