"""Sync settings: which Supabase project, how often, and this device's name. Nothing here
is secret (a project's anon key is public by design); the session is in the keyring."""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..core import paths


@dataclass
class SyncSettings:
    enabled: bool = False
    url: str = ""
    anon_key: str = ""
    interval_s: int = 300  # between syncs when nothing fails
    team_id: str | None = None  # facts marked shared go to this team
    team_recall: bool = False  # let the team's shared memories join recall
    device_id: str = field(default_factory=lambda: uuid.uuid4().hex)


def _path() -> Path:
    return paths.data_dir() / "sync.json"


def load() -> SyncSettings:
    try:
        data = json.loads(_path().read_text(encoding="utf-8"))
        known = {k: v for k, v in data.items() if k in SyncSettings.__dataclass_fields__}
        return SyncSettings(**known)
    except (OSError, ValueError, TypeError):  # none yet, or unreadable: start from defaults
        settings = SyncSettings()
        save(settings)
        return settings


def save(settings: SyncSettings) -> None:
    path = _path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(asdict(settings), indent=1), encoding="utf-8")
    os.replace(tmp, path)
