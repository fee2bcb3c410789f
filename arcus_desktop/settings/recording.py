"""Recording settings: whether each conversation is saved (a stereo WAV and its
transcript) and how much is kept. 24 kHz stereo 16-bit is about 350 MB an hour."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from ..core import paths


@dataclass
class RecordingSettings:
    enabled: bool = True
    keep_days: float = 30.0  # finished conversations older than this are deleted; 0: no limit
    keep_gb: float = 5.0  # the oldest go first while all of them take more; 0: no limit


def _path() -> Path:
    return paths.data_dir() / "recording.json"


def load() -> RecordingSettings:
    try:
        data = json.loads(_path().read_text(encoding="utf-8"))
        known = {k: v for k, v in data.items() if k in RecordingSettings.__dataclass_fields__}
        return RecordingSettings(**known)
    except (OSError, ValueError, TypeError):  # none yet, or unreadable: the defaults
        return RecordingSettings()


def save(settings: RecordingSettings) -> None:
    path = _path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(asdict(settings), indent=1), encoding="utf-8")
    os.replace(tmp, path)
