"""Recording settings: whether each conversation is saved (a stereo WAV and its
transcript) and how much is kept. 24 kHz stereo 16-bit is about 350 MB an hour."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..core import paths
from . import json_file


@dataclass
class RecordingSettings:
    enabled: bool = True
    keep_days: float = 30.0  # finished conversations older than this are deleted; 0: no limit
    keep_gb: float = 5.0  # the oldest go first while all of them take more; 0: no limit


def _path() -> Path:
    return paths.data_dir() / "recording.json"


def load() -> RecordingSettings:
    """None saved yet: the defaults (not written; the file is the user's to add)."""
    return json_file.load(_path(), RecordingSettings)


def save(settings: RecordingSettings) -> None:
    json_file.save(_path(), settings)
