"""What Arcus Desktop Client does when asked to run the model it does not carry:
ARCUS_FLAVOUR=client stands in for a build without torch (core/flavour.py)."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest

from arcus_desktop.core import flavour
from arcus_desktop.core.events import EngineFailed
from arcus_desktop.engine.host import EXIT_TOLD, HostConfig, main

ROOT = Path(__file__).resolve().parents[2]


def test_the_flavour_follows_torch_unless_set(monkeypatch):
    monkeypatch.delenv("ARCUS_FLAVOUR", raising=False)
    assert flavour.current() == "full"  # torch is installed here
    monkeypatch.setenv("ARCUS_FLAVOUR", "client")
    assert flavour.is_client() and flavour.name() == "Arcus Desktop Client"


@pytest.mark.parametrize("command", ["voices", "testkit --out x", "converse --input a.wav"])
def test_model_commands_say_the_client_has_no_model(command, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "arcus_desktop", *command.split()],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120,
                          env={**os.environ, "ARCUS_FLAVOUR": "client",
                               "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2, proc.stderr
    assert "Arcus Desktop Client has no model" in proc.stderr
    assert "full Arcus Desktop" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "x").exists()


def test_the_client_engine_process_refuses_a_local_mode(monkeypatch):
    """Settings copied from a full install (a local mode): told, with the way out, and
    not restarted (EXIT_TOLD)."""
    monkeypatch.setenv("ARCUS_FLAVOUR", "client")
    here, there = multiprocessing.Pipe()
    with pytest.raises(SystemExit) as ended:
        main(HostConfig(quant_mode="bf16"), None, there)
    assert ended.value.code == EXIT_TOLD
    events = []
    while here.poll(5):
        events.append(here.recv())
        if isinstance(events[-1], EngineFailed):
            break
    failed = events[-1]
    assert isinstance(failed, EngineFailed)
    assert "Team server" in failed.hint and "full Arcus Desktop" in failed.hint


def test_the_client_reads_no_local_model(monkeypatch, tiny_model):
    """A model left from a full install is not the client's: its settings show the
    preset voices and count no tokens (the client carries no sentencepiece)."""
    from arcus_desktop.bridge.model_info import read_model_info
    from arcus_desktop.engine.constants import PRESET_VOICES

    monkeypatch.setenv("ARCUS_FLAVOUR", "client")
    info = read_model_info(tiny_model)
    assert not info.installed and info.tokenizer is None and info.problems == []
    assert info.voices == list(PRESET_VOICES)
