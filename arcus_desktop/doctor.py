"""`arcus-desktop doctor`: what this machine offers the app, one line per part."""

from __future__ import annotations

import platform
import sys

from . import __version__
from .core.errors import ArcusError


def _sqlite() -> str:
    from .memory.db import pick_backend

    return pick_backend().describe()


def _embedder() -> str:
    from .memory.embedder import load_embedder

    try:
        return f"{load_embedder().name} (offline)"
    except ArcusError as e:
        return e.user_text()


def _audio() -> str:
    try:
        from .audio.devices import portaudio

        return f"PortAudio {portaudio()[0]}"
    except (ImportError, OSError) as e:
        return f"unavailable ({e}); install libportaudio2"


def _audio_path() -> str:
    """The delay the live audio path adds on the devices chosen in Settings."""
    from .audio.expected import expected_delay
    from .settings.app_settings import AppSettings

    chosen = (_saved_settings() or AppSettings()).audio
    try:
        return expected_delay(chosen.input_device or None, chosen.output_device or None,
                              chosen.echo_cancellation).describe()
    except LookupError as e:
        return f"the chosen device {e} is not connected; choose another in Settings > Audio"
    except Exception as e:  # PortAudio's errors and a missing library alike: report them
        return f"no sound device opens ({e}); plug one in or check the sound settings"


def _saved_settings():
    try:
        from .bridge.settings_store import QSettingsStore
        from .settings.app_settings import load

        return load(QSettingsStore())
    except Exception:  # unreadable settings: the defaults are what the app would use
        return None


def _keyring() -> str:
    from .settings.secrets import describe_store

    return describe_store()


def _engine_mode(detected) -> str:
    """The mode saved in Settings; for Automatic, what it would pick here (`detected`, a
    ModePick, or None without torch)."""
    from .core import modes
    from .settings.app_settings import AppSettings

    engine = (_saved_settings() or AppSettings()).engine
    label = modes.label(engine.mode)
    if engine.mode == modes.SERVER:
        where = engine.server_url or "no address yet (set it in Settings > Engine)"
        return f"{label}, {where} (saved in Settings)"
    if engine.mode != modes.AUTO:
        return f"{label} (saved in Settings)"
    if detected is None:
        return f"{label}: needs torch to look at the GPU"
    return f"{label}: here it would pick {detected.mode}. {detected.note}"


def saved_model_dir() -> str | None:
    """Settings > Engine > Model folder, where the app looks when it is set."""
    saved = _saved_settings()
    return (saved.engine.model_dir or None) if saved is not None else None


def _model(model_dir=None) -> str:
    from .engine import checkpoint

    saved = saved_model_dir() if model_dir is None else None
    try:
        root = str(checkpoint.locate(model_dir or saved).root)
    except ArcusError as e:
        text = e.user_text()
        return f"{saved} (the Model folder saved in Settings): {text}" if saved else text
    return f"{root} (the Model folder saved in Settings)" if saved else root


def _speech_to_text() -> str:
    from .engine import stt_checkpoint

    found = stt_checkpoint.find_installed()
    if found is None:
        return stt_checkpoint.NOT_INSTALLED + " Get it with `arcus-desktop download --stt`."
    return str(found)


def report(model_dir=None) -> list[tuple[str, str]]:
    rows = [("arcus-desktop", __version__),
            ("python", f"{platform.python_version()} ({sys.executable})"),
            ("platform", platform.platform())]
    choice = None
    try:
        from .engine import modes, packed
        from .engine.torch_env import describe

        rows += describe()
        rows.append(("packed weights", packed.describe()))
        choice = modes.detect()
    except ImportError as e:
        rows.append(("torch", f"missing ({e})"))
    rows.append(("engine mode", _engine_mode(choice)))
    rows += [("model", _model(model_dir)), ("speech-to-text", _speech_to_text()), ("memory database", _sqlite()),
             ("memory embeddings", _embedder()), ("audio", _audio()),
             ("audio path", _audio_path()), ("keyring", _keyring())]
    return rows
