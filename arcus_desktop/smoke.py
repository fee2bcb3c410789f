"""`arcus-desktop --smoke-test`: a headless self-check, mainly for the frozen app.

Each check either returns a line for the report or raises; the first failure prints a
`SMOKE TEST FAILED` line with the traceback and the exit status is 1. Only when every
check passes is the MARKER printed, so a build script can grep for it.
Everything runs in a temporary data folder: the user's own data is never touched.

Arcus Desktop Client (core/flavour.py) has no engine: instead of the tiny model it holds
a short conversation with the team server named by $ARCUS_SMOKE_SERVER (with
$ARCUS_SMOKE_TOKEN, if it needs one), or without one codes a tone through Opus and back,
and it checks that torch and moshi were never loaded.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

from .core import flavour

MARKER = "ARCUS SMOKE TEST PASSED"
FAILED = "ARCUS SMOKE TEST FAILED"

# Third-party modules that are imported lazily somewhere, so a bundle can miss them.
THIRD_PARTY = ("numpy", "torch", "moshi", "sentencepiece", "safetensors", "soxr",
               "sounddevice", "soundfile", "sqlite_vec", "keyring", "wordllama",
               "livekit.rtc", "huggingface_hub", "websockets", "aiohttp", "supabase",
               "PySide6.QtWidgets", "PySide6.QtSvg", "PySide6.QtNetwork")
if sys.platform.startswith("linux"):
    # keyring's Secret Service backend (GNOME Keyring, KWallet) needs these; without them
    # a bundle silently falls back to saving no tokens.
    THIRD_PARTY += ("secretstorage", "jeepney")
# What the client carries of them: no model (torch, moshi, the tokenizer), no team
# server (aiohttp) and no soundfile (tests only; the app decodes with sphn).
CLIENT_THIRD_PARTY = tuple(m for m in THIRD_PARTY if m not in (
    "torch", "moshi", "sentencepiece", "aiohttp", "soundfile")) + ("sphn",)


def check_imports() -> str:
    import arcus_desktop

    client = flavour.is_client()
    names = []
    for info in pkgutil.walk_packages(arcus_desktop.__path__, "arcus_desktop.",
                                      onerror=_raise):
        if info.name.endswith("__main__"):
            continue  # running it would start the app
        if client and not flavour.in_client(info.name):
            continue  # from source: the client build leaves these out
        importlib.import_module(info.name)
        names.append(info.name)
    libraries = CLIENT_THIRD_PARTY if client else THIRD_PARTY
    for name in libraries:
        importlib.import_module(name)
    if len(names) < 50:  # a frozen importer that lists nothing would pass silently
        raise RuntimeError(f"only {len(names)} arcus_desktop modules were found")
    return f"{len(names)} arcus_desktop modules, {len(libraries)} libraries"


def _raise(name: str) -> None:
    raise ImportError(f"cannot import {name}")


def check_sqlite() -> str:
    from .memory.db import pick_backend

    backend = pick_backend()
    if not backend.vectors:
        raise RuntimeError(f"the vector extension does not load: {backend.describe()}")
    return backend.describe()


def check_keyring() -> str:
    from .settings import secrets

    name = secrets.backend_class()
    usable = "usable" if secrets.available() else "no password store here: tokens are not saved"
    return f"{name} ({usable})"


def check_portaudio() -> str:
    from .audio.devices import portaudio

    version, library = portaudio()
    return f"{version} from {library}"


def check_embedder() -> str:
    from .memory.embedder import load_embedder

    embedder = load_embedder()
    vectors = embedder.embed(["the smoke test"])
    return f"{embedder.name}, {len(vectors[0])} dimensions"


def check_engine(tmp: Path) -> str:
    """The tiny test model over a 2 s recording, in a spawned process like the app's
    engine host (in the frozen app this needs freeze_support in __main__)."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=engine_child, args=(str(tmp), queue), daemon=True)
    proc.start()
    proc.join(600)
    if proc.is_alive():
        proc.kill()
        raise RuntimeError("the engine process did not finish within 10 minutes")
    result = queue.get(timeout=5) if not queue.empty() else None
    if proc.exitcode != 0 or result is None or not result.startswith("ok"):
        raise RuntimeError(f"the engine process failed (exit {proc.exitcode}): {result}")
    return result[3:]


def engine_child(tmp: str, queue) -> None:
    try:
        queue.put("ok " + _run_engine(Path(tmp)))
    except BaseException:
        queue.put(traceback.format_exc())
        raise


def _run_engine(tmp: Path) -> str:
    import numpy as np

    from .audio.files import write_wav
    from .core.persona import Persona
    from .engine import testkit
    from .engine.constants import SAMPLE_RATE
    from .engine.conversation import converse
    from .engine.engine import Engine

    model = testkit.write(tmp / "model")
    t = np.arange(2 * SAMPLE_RATE) / SAMPLE_RATE
    pcm = (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    write_wav(tmp / "in.wav", pcm, SAMPLE_RATE)
    engine = Engine.load(model, device="cpu", user_words=False)
    result = converse(engine, tmp / "in.wav", tmp / "out.wav", tmp / "out.json",
                      Persona(text="You are a test.", voice="NATF2"), seed=1)
    if result.frames < 20 or not (tmp / "out.wav").stat().st_size:
        raise RuntimeError(f"the engine made {result.frames} frames")
    return f"tiny model on cpu: {result.frames} frames, p50 {result.frame_ms_p50:.1f} ms"


def check_remote() -> str:
    """The client's conversation path: the remote engine's loop with a team server
    ($ARCUS_SMOKE_SERVER), or without one the Opus codec both ways."""
    import numpy as np

    from .audio.streams import RATE
    from .remote.jitter import FRAME

    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(FRAME) / RATE)).astype(np.float32)
    url = os.environ.get("ARCUS_SMOKE_SERVER", "").strip()
    if not url:
        import sphn

        writer, reader = sphn.OpusStreamWriter(RATE), sphn.OpusStreamReader(RATE)
        decoded = 0
        for _ in range(25):
            data = writer.append_pcm(tone)
            if data:
                pcm = reader.append_bytes(data)
                decoded += 0 if pcm is None else int(np.asarray(pcm).size)
        if decoded < 10 * FRAME:
            raise RuntimeError(f"Opus gave back {decoded} samples of {25 * FRAME}")
        return f"Opus both ways, {decoded} samples (no ARCUS_SMOKE_SERVER: no conversation)"
    from .remote.client import ClientSettings, RemoteLoop

    token = os.environ.get("ARCUS_SMOKE_TOKEN") or None
    settings = ClientSettings(connect_timeout_s=30.0)
    with RemoteLoop(url, token, {"text": "You are a test.", "voice": "NATF2"}, None, 1, None,
                    settings) as loop:
        for _ in range(25):  # 2 s
            want = loop.received + 1
            loop.process(tone)
            if not loop.wait_audio(want, 30):
                raise loop.error or RuntimeError(f"{url} sent no audio for 30 s")
        heard = loop.received
    return f"{heard} frames of the team server's audio from {url}"


def check_no_model_libraries() -> str:
    loaded = sorted({m.split(".")[0] for m in sys.modules} & set(flavour.MODEL_PACKAGES))
    if loaded:
        raise RuntimeError(f"the client loaded {', '.join(loaded)}")
    return "none of " + ", ".join(flavour.MODEL_PACKAGES) + " loaded"


def check_windows(tmp: Path) -> str:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from .ui.smoke import build_windows  # Qt stays in ui/ (tests/unit/test_layers.py)

    return build_windows(tmp)


def run() -> int:
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="arcus-smoke-") as folder:
        tmp = Path(folder)
        # The user's data, settings and caches stay untouched.
        for var, sub in (("ARCUS_DATA_DIR", "data"), ("ARCUS_CACHE_DIR", "cache"),
                         ("XDG_CONFIG_HOME", "config")):
            os.environ[var] = str(tmp / sub)
        os.environ.setdefault("NO_TORCH_COMPILE", "1")
        checks = [("imports", check_imports), ("sqlite", check_sqlite),
                  ("keyring", check_keyring), ("portaudio", check_portaudio),
                  ("embedder", check_embedder)]
        if flavour.is_client():
            checks += [("remote", check_remote), ("windows", lambda: check_windows(tmp)),
                       ("no model", check_no_model_libraries)]
        else:
            checks += [("engine", lambda: check_engine(tmp)),
                       ("windows", lambda: check_windows(tmp))]
        for name, check in checks:
            try:
                line = check()
            except BaseException:
                traceback.print_exc()
                print(f"{FAILED}: {name}", flush=True)
                return 1
            print(f"smoke {name:<10} ok  {line}", flush=True)
    frozen = "frozen" if getattr(sys, "frozen", False) else "from source"
    print(f"{MARKER} ({flavour.name()}, {frozen}, {time.monotonic() - start:.1f} s)", flush=True)
    return 0
