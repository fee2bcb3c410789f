"""Found walking through the README's first run on a fresh HOME: after setup chose "Use
model files I already have", `doctor` said "The PersonaPlex model is not installed yet"
and `voices` failed the same way, though the app used that folder. Without --model-dir
they now look where the app does: the Model folder saved in Settings. Real CLI
processes and a real settings file in the test's config folder."""

from __future__ import annotations

import os
from pathlib import Path

from arcus_desktop.engine.testkit import TEST_VOICES

from .test_model_dir_cli import run


def save_model_folder(folder: Path) -> None:
    config = Path(os.environ["XDG_CONFIG_HOME"]) / "Arcus"
    config.mkdir(parents=True, exist_ok=True)
    (config / "arcus-desktop.conf").write_text(f"[engine]\nmode=cpu\nmodel_dir={folder}\n")


def test_doctor_and_voices_use_the_saved_model_folder(tiny_model):
    save_model_folder(tiny_model)
    out = run(["doctor"])
    assert out.returncode == 0, out.stderr
    model_line = next(line for line in out.stdout.splitlines() if line.startswith("model "))
    assert str(tiny_model) in model_line and "Settings" in model_line
    out = run(["voices"])
    assert out.returncode == 0, out.stderr
    assert [line.split()[0] for line in out.stdout.splitlines()] == sorted(TEST_VOICES)


def test_a_saved_folder_that_is_gone_is_named(tmp_path):
    save_model_folder(tmp_path / "gone")
    out = run(["doctor"])
    assert out.returncode == 0, out.stderr
    model_line = next(line for line in out.stdout.splitlines() if line.startswith("model "))
    assert str(tmp_path / "gone") in model_line
