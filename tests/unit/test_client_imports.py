"""Arcus Desktop Client (build.spec with ARCUS_FLAVOUR=client) carries no torch, moshi,
triton or bitsandbytes: every arcus_desktop module it carries (core.flavour.in_client)
imports in a process where those cannot be imported, and none of them gets loaded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CODE = """
import importlib, importlib.abc, json, os, pkgutil, sys
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
BLOCKED = ("torch", "moshi", "triton", "bitsandbytes")
class NotInTheClient(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(name + " is not in Arcus Desktop Client")
import arcus_desktop
from arcus_desktop.core import flavour
class NotInTheBundle(importlib.abc.MetaPathFinder):
    # build.spec leaves these arcus_desktop modules out of the client's bundle too
    def find_spec(self, name, path, target=None):
        if name.startswith("arcus_desktop.") and not flavour.in_client(name):
            raise ImportError(name + " is not in Arcus Desktop Client")
sys.meta_path[:0] = [NotInTheClient(), NotInTheBundle()]
imported, left_out, failed = [], [], {}
for info in pkgutil.walk_packages(arcus_desktop.__path__, "arcus_desktop."):
    if info.name.endswith("__main__"):
        continue
    if not flavour.in_client(info.name):
        left_out.append(info.name)
        continue
    try:
        importlib.import_module(info.name)
        imported.append(info.name)
    except Exception as e:
        failed[info.name] = repr(e)
loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
from arcus_desktop import cli
try:  # the bundled app's entry point, as the build's smoke test starts it
    cli.main(["--help"])
except SystemExit as e:
    help_exit = e.code
print(json.dumps({"imported": imported, "left_out": left_out, "failed": failed,
                  "loaded": loaded, "flavour": flavour.current(),
                  "help_exit": help_exit}))
"""


def _run() -> dict:
    env = {k: v for k, v in __import__("os").environ.items() if k != "ARCUS_FLAVOUR"}
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True,
                         cwd=ROOT, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_every_client_module_imports_without_the_model_libraries():
    found = _run()
    assert found["failed"] == {}
    assert found["loaded"] == []
    assert len(found["imported"]) > 100  # the walk really listed the package
    # What the client needs of the app is there: the tray, the remote engine, memory, sync.
    for name in ("arcus_desktop.ui.app", "arcus_desktop.remote.host",
                 "arcus_desktop.bridge.remote_supervisor", "arcus_desktop.memory.embedder",
                 "arcus_desktop.sync.engine", "arcus_desktop.smoke", "arcus_desktop.cli"):
        assert name in found["imported"]
    # The engine's torch-free parts the setup and settings pages read the model with.
    for name in ("arcus_desktop.engine.voice_files", "arcus_desktop.engine.tokenizer",
                 "arcus_desktop.engine.prompt", "arcus_desktop.engine.modes",
                 "arcus_desktop.bridge.model_info", "arcus_desktop.core.modes"):
        assert name in found["imported"]
    # Left out: the model and the team server only.
    assert "arcus_desktop.engine.engine" in found["left_out"]
    assert all(m.startswith(("arcus_desktop.engine.", "arcus_desktop.server"))
               for m in found["left_out"])
    # Without torch the app knows it is the client (the wizard and the CLI ask).
    assert found["flavour"] == "client"
    # cli.main starts without the modules the bundle leaves out (a top-level import of
    # engine.kernel_warmup once broke the client's start).
    assert found["help_exit"] == 0
