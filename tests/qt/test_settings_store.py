"""Settings kept in QSettings (an ini file here) and tokens in a real OS keyring: they
come back as they were saved, and no secret ever reaches the settings file."""

from __future__ import annotations

from arcus_desktop.bridge.settings_store import QSettingsStore, SettingsService
from arcus_desktop.settings import app_settings as a
from arcus_desktop.settings.app_settings import Secrets

from ..secret_service import saved_names

HF = "hf_TopSecretHuggingFace123"
SERVER = "srv-token-5a1e-very-secret"


def changed_settings() -> a.AppSettings:
    s = a.AppSettings()
    s.voice.preset = "VARF3"
    s.persona.preset, s.persona.text = "custom", "You are a calm pirate who speaks softly."
    s.sampling.seed, s.sampling.audio_top_k = 7, 100
    s.engine.mode, s.engine.server_url = "server", "https://gpu-box:8998"
    s.audio.output_device, s.audio.volume = "Speakers (USB)", 60
    s.hotkey.shortcut = "Ctrl+Shift+F9"
    s.memory.items = 8
    s.data.retention_days, s.data.start_at_login = 7, True
    s.sync.url, s.sync.anon_key = "https://abcd.supabase.co", "anon-public-key"
    return s


def test_settings_and_secrets_round_trip_and_secrets_stay_out_of_the_file(tmp_path, os_keyring):
    ini = tmp_path / "arcus.ini"
    s = changed_settings()
    a.save(QSettingsStore.ini_file(ini), s)
    a.save_secrets(Secrets(hf_token=HF, server_token=SERVER))

    again = a.load(QSettingsStore.ini_file(ini))  # as if the app started again
    assert again == s
    assert a.load_secrets() == Secrets(hf_token=HF, server_token=SERVER)
    assert a.server_token() == SERVER
    assert {"hf_token", "server_token"} <= saved_names(os_keyring)  # in the Secret Service

    text = ini.read_text(encoding="utf-8")
    assert "gpu-box" in text and "calm pirate" in text  # the file is the real one
    assert HF not in text and SERVER not in text
    assert "hf_token" not in text and "server_token" not in text
    sync_json = (tmp_path / "data" / "sync.json").read_text(encoding="utf-8")
    assert "abcd.supabase.co" in sync_json
    assert HF not in sync_json and SERVER not in sync_json

    a.save_secrets(Secrets(hf_token=HF), Secrets(hf_token=HF, server_token=SERVER))
    assert a.load_secrets() == Secrets(hf_token=HF)  # an emptied token is deleted
    assert "server_token" not in saved_names(os_keyring)


def test_the_service_saves_and_announces_a_change(qtbot, tmp_path):
    service = SettingsService(QSettingsStore.ini_file(tmp_path / "arcus.ini"))
    assert service.settings == a.load(a.DictStore())  # nothing saved yet: defaults
    new = changed_settings()
    with qtbot.waitSignal(service.changed) as signal:
        service.apply(new)
    now, before = signal.args
    assert now == new and before.voice.preset == "NATF2"
    assert a.load(QSettingsStore.ini_file(tmp_path / "arcus.ini")) == new
    with qtbot.assertNotEmitted(service.changed):
        service.apply(new)  # nothing changed: nobody needs to restart anything

