"""Which build of the app this is: the full one (the model can run on this computer:
torch, moshi, CUDA) or Arcus Desktop Client (team server only, for laptops without a big
GPU; build.spec with ARCUS_FLAVOUR=client). The client is the one without torch, so the
answer needs no file written at build time: a client that somehow found torch would only
offer more, never break. ARCUS_FLAVOUR overrides it (tests)."""

from __future__ import annotations

import importlib.util
import os

FULL, CLIENT = "full", "client"
# What the client leaves out: the model's libraries, and every one that only they pull in.
MODEL_PACKAGES = ("torch", "moshi", "triton", "bitsandbytes")
# engine/ modules that never import torch at their top, so the client carries them (the
# model's files and modes for the setup pages, the live conversation loop the remote
# engine shares). tests/unit/test_client_imports.py imports them with torch unimportable.
CLIENT_ENGINE = ("arcus_desktop.engine", "arcus_desktop.engine.checkpoint",
                 "arcus_desktop.engine.constants", "arcus_desktop.engine.download",
                 "arcus_desktop.engine.event_sender", "arcus_desktop.engine.host",
                 "arcus_desktop.engine.live", "arcus_desktop.engine.modes",
                 "arcus_desktop.engine.prompt", "arcus_desktop.engine.stt_checkpoint",
                 "arcus_desktop.engine.tokenizer", "arcus_desktop.engine.voice_files")
FULL_APP = "Arcus Desktop (full)"
WHERE_FULL = ("ask your team's admin for the full Arcus Desktop installer "
              "(the one that is not called Client)")


def in_client(module: str) -> bool:
    """Whether the client carries this arcus_desktop module: all but the model (engine/
    past CLIENT_ENGINE) and the team server (server/)."""
    if module == "arcus_desktop.server" or module.startswith("arcus_desktop.server."):
        return False
    if module.startswith("arcus_desktop.engine.") or module == "arcus_desktop.engine":
        return module in CLIENT_ENGINE
    return True


def current() -> str:
    forced = os.environ.get("ARCUS_FLAVOUR", "").strip().lower()
    if forced in (FULL, CLIENT):
        return forced
    try:
        found = importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):  # a finder that refuses it (the client's import test)
        found = False
    return FULL if found else CLIENT


def is_client() -> bool:
    return current() == CLIENT


def name() -> str:
    return "Arcus Desktop Client" if is_client() else "Arcus Desktop"
