"""Where the app keeps its data and caches (overridable for tests and portable installs)."""

from __future__ import annotations

import os
import re
from pathlib import Path

APP = "arcus-desktop"
# A conversation's recording: <UTC start>-<id>.wav in recordings/ (audio/retention.py).
RECORDING_STEM = re.compile(r"^(\d{8}-\d{6})-[0-9a-f]{6}$")


def data_dir() -> Path:
    if env := os.environ.get("ARCUS_DATA_DIR"):
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_data_dir(APP, appauthor=False))


def cache_dir() -> Path:
    if env := os.environ.get("ARCUS_CACHE_DIR"):
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP, appauthor=False))


def use_data_dir(folder: str | os.PathLike | None) -> None:
    """The user's own data folder (a setting) for this process and the processes it
    starts. ARCUS_DATA_DIR set from outside (tests, portable installs) wins."""
    if folder and not os.environ.get("ARCUS_DATA_DIR"):
        os.environ["ARCUS_DATA_DIR"] = str(Path(folder).expanduser())


def recordings_dir() -> Path:
    return data_dir() / "recordings"


def is_own_recording(path: str | os.PathLike) -> bool:
    """Whether `path` is a recording the app made: a .wav named like one, right in the
    data folder's recordings/, and not a link to somewhere else. A path from an imported
    file may name anything; only these may be deleted or played."""
    path = Path(path)
    if path.suffix != ".wav" or not RECORDING_STEM.match(path.stem) or path.is_symlink():
        return False
    try:
        return path.resolve().parent == recordings_dir().resolve()
    except (OSError, RuntimeError):
        return False
