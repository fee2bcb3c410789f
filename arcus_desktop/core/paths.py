"""Where the app keeps its data and caches (overridable for tests and portable installs)."""

from __future__ import annotations

import os
from pathlib import Path

APP = "arcus-desktop"


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
