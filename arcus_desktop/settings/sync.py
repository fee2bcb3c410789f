"""Sync settings: which Supabase project, how often, and this device's name. Nothing here
is secret (a project's anon key is public by design); the session is in the keyring."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path

from ..core import paths
from . import json_file


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
    """None saved yet: the defaults, written at once so this device's id stays."""
    return json_file.load(_path(), SyncSettings, save_defaults=True)


def save(settings: SyncSettings) -> None:
    json_file.save(_path(), settings)
