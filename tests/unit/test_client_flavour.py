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


@pytest.mark.parametrize("flag, package, other", [([], "arcus-desktop", "arcus-desktop-client"),
                                                  (["--client"], "arcus-desktop-client",
                                                   "arcus-desktop")])
def test_each_flavour_packages_as_its_own_deb(tmp_path, flag, package, other):
    """deb.sh --client packages build/dist/arcus-desktop-client as arcus-desktop-client;
    both install the same files, so each replaces the other."""
    import shutil

    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb is not installed")
    bundle = tmp_path / "dist" / ("arcus-desktop-client" if flag else "arcus-desktop")
    bundle.mkdir(parents=True)
    (bundle / "arcus-desktop").write_text("#!/bin/sh\n")
    (bundle / "arcus-desktop").chmod(0o755)
    subprocess.run(["bash", str(ROOT / "installer/linux/deb.sh"), *flag], check=True,
                   capture_output=True, env={"ARCUS_BUILD_DIR": str(tmp_path),
                                             "DEB_COMPRESS": "none", "PATH": "/usr/bin:/bin"})
    deb = next(tmp_path.glob(f"{package}_*_amd64.deb"))
    fields = {k: subprocess.run(["dpkg-deb", "-f", str(deb), k], check=True, capture_output=True,
                                text=True).stdout.strip()
              for k in ("Package", "Conflicts", "Replaces", "Description")}
    assert fields["Package"] == package
    assert fields["Conflicts"] == fields["Replaces"] == other
    assert ("team server" in fields["Description"].split("\n")[0]) == bool(flag)
