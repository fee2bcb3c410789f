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
