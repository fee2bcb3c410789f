"""The small JSON settings files beside QSettings (sync.json, recording.json): one typed
loader; a damaged file is kept aside, never written over, and a wrong type never reaches
the app."""

from __future__ import annotations

import json

from arcus_desktop.core import paths
from arcus_desktop.settings import json_file
from arcus_desktop.settings import recording as recording_settings
from arcus_desktop.settings import sync as sync_settings
from arcus_desktop.settings.recording import RecordingSettings


def _aside(name: str) -> list:
    stem, suffix = name.rsplit(".", 1)
    return sorted(paths.data_dir().glob(f"{stem}.corrupt-*.{suffix}"))


def test_a_damaged_sync_file_is_kept_aside_not_overwritten():
    path = paths.data_dir() / "sync.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"url": "https://mine.supabase.co", "enabled": tr', encoding="utf-8")
    settings = sync_settings.load()
    assert settings.url == "" and not settings.enabled
    (kept,) = _aside("sync.json")
    assert kept.read_text(encoding="utf-8").startswith('{"url": "https://mine.supabase.co"')
    assert json.loads(path.read_text(encoding="utf-8"))["device_id"] == settings.device_id


def test_a_wrong_type_takes_its_default_and_the_rest_is_kept():
    path = paths.data_dir() / "sync.json"
    path.parent.mkdir(parents=True)
    saved = {"url": "https://mine.supabase.co", "interval_s": "often", "enabled": 1,
             "team_id": None, "device_id": "abc123"}
    path.write_text(json.dumps(saved), encoding="utf-8")
    settings = sync_settings.load()
    assert settings.url == "https://mine.supabase.co" and settings.device_id == "abc123"
    assert settings.interval_s == 300 and settings.enabled is False and settings.team_id is None
    (kept,) = _aside("sync.json")
    assert json.loads(kept.read_text(encoding="utf-8")) == saved
    assert sync_settings.load() == settings  # repaired: the next load reads it whole


def test_recording_settings_read_types_and_bounds():
    path = paths.data_dir() / "recording.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"keep_days": 7, "keep_gb": true, "enabled": false}', encoding="utf-8")
    settings = recording_settings.load()
    assert settings == RecordingSettings(enabled=False, keep_days=7.0)
    assert isinstance(settings.keep_days, float)
    assert len(_aside("recording.json")) == 1
    path.write_text('{"keep_days": NaN, "keep_gb": Infinity}', encoding="utf-8")
    assert recording_settings.load() == RecordingSettings()
    assert len(_aside("recording.json")) == 2
    path.write_text(json.dumps({"enabled": False, "pad": "x" * json_file.MAX_BYTES}),
                    encoding="utf-8")
    assert recording_settings.load() == RecordingSettings()
    assert len(_aside("recording.json")) == 3


def test_no_file_gives_the_defaults_and_only_sync_writes_them():
    assert recording_settings.load() == RecordingSettings()
    assert not (paths.data_dir() / "recording.json").exists()
    first = sync_settings.load()
    assert sync_settings.load().device_id == first.device_id
    assert not _aside("sync.json")
