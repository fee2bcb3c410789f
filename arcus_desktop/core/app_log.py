"""The app's log file, data/logs/arcus.log: what "the details are in the log" points at,
a file a user can find and send. The app and its engine processes append to it; the app
starts a fresh one when it has grown past LIMIT (the old one kept as arcus.log.1)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from . import paths

NAME = "arcus.log"
LIMIT = 2 << 20  # bytes
FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"
_handler: logging.Handler | None = None


def file() -> Path:
    return paths.data_dir() / "logs" / NAME


def start(rotate: bool = False) -> Path | None:
    """Log INFO and above to the file (once per process). `rotate`: the app's start,
    before any engine process appends. None when the file cannot be written (a read-only
    or full disk): the app runs on, logging to stderr only."""
    global _handler
    if _handler is not None:
        return Path(_handler.baseFilename)
    path = file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if rotate and path.exists() and path.stat().st_size > LIMIT:
            os.replace(path, path.with_name(NAME + ".1"))
        _handler = logging.FileHandler(path, encoding="utf-8")
    except OSError:
        return None
    _handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger()
    root.addHandler(_handler)
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)
    return path


def details() -> str:
    """Where the details of a failure are, for a message: the log file when there is one."""
    return f"The details are in {_handler.baseFilename}." if _handler is not None \
        else "The details are in the log."
