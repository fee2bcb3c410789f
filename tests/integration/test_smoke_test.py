"""`arcus-desktop --smoke-test` from source: the same check the frozen bundle runs
(installer/linux/build.sh), here with the tiny test model and offscreen Qt."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from arcus_desktop import smoke

ROOT = Path(__file__).resolve().parents[2]
SMOKE_SH = ROOT / "installer" / "linux" / "smoke.sh"


def _run(env_extra: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT), **env_extra}
    return subprocess.run([sys.executable, "-m", "arcus_desktop", "--smoke-test"], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_smoke_test_passes(tmp_path):
    proc = _run({}, tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert out.count(smoke.MARKER) == 1
    for check in ("imports", "sqlite", "keyring", "portaudio", "embedder", "engine", "windows"):
        assert f"smoke {check}" in out
    assert "Traceback" not in out


def test_missing_module_fails_loudly(tmp_path):
    # A library left out of a bundle looks like this to the app.
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "soxr.py").write_text("raise ModuleNotFoundError(\"No module named 'soxr'\")\n")
    proc = _run({"PYTHONPATH": f"{fake}{os.pathsep}{ROOT}"}, tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1
    assert f"{smoke.FAILED}: imports" in out
    assert "ModuleNotFoundError" in out
    assert smoke.MARKER not in out


def test_failed_check_stops_before_the_marker(monkeypatch, capsys):
    def broken() -> str:
        raise OSError("error while loading shared libraries: libportaudio.so.2")

    monkeypatch.setattr(smoke, "check_imports", lambda: "skipped")
    monkeypatch.setattr(smoke, "check_sqlite", broken)
    assert smoke.run() == 1
    out = capsys.readouterr()
    assert f"{smoke.FAILED}: sqlite" in out.out
    assert smoke.MARKER not in out.out


@pytest.mark.parametrize("printed, ok", [
    (f"{smoke.MARKER}", True),
    (f"Traceback (most recent call last):\\n{smoke.MARKER}", False),  # marker is not enough
    ("qt.qpa.plugin: could not load the Qt platform plugin", False),
    ("nothing at all", False),
])
def test_smoke_script_judges_output(tmp_path, printed, ok):
    app = tmp_path / "arcus-desktop"
    app.write_text(f"#!/bin/sh\nprintf '{printed}\\n'\n")
    app.chmod(0o755)
    proc = subprocess.run(["bash", str(SMOKE_SH), str(app)], capture_output=True, text=True,
                          timeout=60)
    assert (proc.returncode == 0) == ok, proc.stdout + proc.stderr
