"""The typed settings: defaults, checks, voice labels and storage through the plain store."""

from __future__ import annotations

from arcus_desktop.core.persona import ARCUS_COMPANION
from arcus_desktop.settings import app_settings as a
from arcus_desktop.settings.app_settings import AppSettings, DictStore


def test_defaults_are_the_companion_persona_and_natf2():
    s = AppSettings()
    assert s.persona.text == ARCUS_COMPANION and s.persona.preset == "companion"
    assert s.voice.preset == "NATF2" and not s.voice.use_own
    assert (s.sampling.audio_temperature, s.sampling.audio_top_k) == (0.8, 250)
    assert (s.sampling.text_temperature, s.sampling.text_top_k) == (0.7, 25)
    assert s.sampling.seed is None and s.persona.token_budget == 200
    assert s.engine.mode == "auto" and s.audio.echo_cancellation and s.memory.enabled
    assert a.check(s) == []


def test_every_persona_preset_is_short_and_distinct():
    texts = [p.text for p in a.PERSONA_PRESETS]
    assert len(set(texts)) == len(texts) == 3
    assert all(20 < len(t.split()) < 60 for t in texts)
    assert a.persona_preset("teacher").title == "Teacher and assistant"


def test_voice_labels_come_from_the_name():
    assert a.describe_voice("NATF2").label == "NATF2 — natural, female"
    assert a.describe_voice("VARM4").label == "VARM4 — varied, male"
    assert a.describe_voice("mine").label == "mine"


def test_round_trip_through_a_plain_store():
    store = DictStore()
    s = AppSettings()
    s.sampling.seed = 42
    s.sampling.text_temperature = 0.55
    s.voice.preset = "VARM1"
    s.audio.input_device = "USB headset"
    s.hotkey.hold_to_talk = True
    a.save(store, s)
    assert set(store.data) == set(a.keys())
    assert a.load(store) == s


def test_text_values_as_an_ini_file_returns_them_are_read_back_typed():
    store = DictStore({"sampling/seed": "", "sampling/audio_top_k": "120",
                       "sampling/audio_temperature": "0.9", "memory/enabled": "false",
                       "audio/volume": "not a number", "engine/mode": "warp drive"})
    s = a.load(store)
    assert s.sampling.seed is None and s.sampling.audio_top_k == 120
    assert s.sampling.audio_temperature == 0.9 and s.memory.enabled is False
    assert s.audio.volume == 100  # unreadable: the default
    assert s.engine.mode == "auto"  # unknown: the default


def test_numbers_out_of_range_in_the_file_are_brought_into_range():
    # A hand-edited or damaged file: the dialog's limits hold on load too (a volume of
    # 100000 was sent to the engine as a 1000x gain).
    store = DictStore({"audio/volume": "100000", "sampling/audio_temperature": "nan",
                       "sampling/text_temperature": "inf", "sampling/audio_top_k": "-3",
                       "persona/token_budget": "-5", "memory/items": "1000000000",
                       "sampling/seed": "-1", "data/retention_days": "7"})
    s = a.load(store)
    assert s.audio.volume == 100 and s.memory.items == 20 and s.persona.token_budget == 20
    assert s.sampling.audio_temperature == 0.8 and s.sampling.text_temperature == 0.7
    assert s.sampling.audio_top_k == 1 and s.sampling.seed == 0
    assert s.data.retention_days == 7  # in range: as saved
    assert a.check(s) == []


def test_checks_name_the_field_and_say_what_to_do(tmp_path):
    s = AppSettings()
    s.voice.use_own = True
    s.engine.mode = "server"
    s.hotkey.shortcut = "F"
    s.sampling.audio_top_k = 0
    problems = {p.key: p.text for p in a.check(s)}
    assert set(problems) == {"voice/own_recording", "voice/consent", "engine/server_url",
                             "hotkey/shortcut", "sampling/audio_top_k"}
    assert "Confirm" in problems["voice/consent"]

    clip = tmp_path / "me.wav"
    clip.write_bytes(b"RIFF")
    s.voice.own_recording, s.voice.consent = str(clip), True
    s.engine.server_url = "gpu-box:8998"
    s.hotkey.shortcut, s.sampling.audio_top_k = "Ctrl+Shift+A", 250
    assert [p.key for p in a.check(s)] == ["engine/server_url"]
    s.engine.server_url = "wss://gpu-box:8998"
    assert a.check(s) == []
    s.data.folder = "Arcus data"
    assert "full path" in a.check(s)[0].text
    s.data.folder = str(clip)
    assert "a file, not a folder" in a.check(s)[0].text
    s.data.folder = str(tmp_path / "new folder")  # made when first used
    assert a.check(s) == []
    assert s.to_persona().voice_file == str(clip)


def test_unencrypted_addresses_are_refused_beyond_this_computer():
    s = AppSettings()
    s.engine.mode = "server"
    s.sync.enabled, s.sync.anon_key = True, "anon"
    for server, sync in (("http://127.0.0.1:8998", "http://127.0.0.1:54321"),
                         ("ws://localhost:8998", "http://[::1]:54321"),
                         ("https://gpu-box:8998", "https://abcd.supabase.co")):
        s.engine.server_url, s.sync.url = server, sync
        assert a.check(s) == []
    s.engine.server_url, s.sync.url = "http://gpu-box:8998", "http://abcd.supabase.co"
    problems = {p.key: p.text for p in a.check(s)}
    assert set(problems) == {"engine/server_url", "sync/url"}
    assert "not encrypted" in problems["engine/server_url"]
    assert "https://" in problems["engine/server_url"] and "SSH tunnel" in problems["engine/server_url"]
    assert "not encrypted" in problems["sync/url"] and "https://" in problems["sync/url"]
    s.engine.server_url, s.sync.url = "ws://192.168.1.20:8998", "https://abcd.supabase.co"
    assert "wss://" in a.check(s)[0].text


def test_an_address_half_typed_or_with_a_bad_port_is_a_problem_not_an_exception():
    # Settings checks each keystroke: "https://[fd00::1" raised ValueError from urlsplit,
    # and a port of 99999 was saved, to fail at the first conversation.
    s = AppSettings()
    s.engine.mode = "server"
    for url, words in (("https://[fd00::1", "“]”"), ("https://gpu-box:99999", "“99999”"),
                       ("https://gpu-box:abc", "“abc”"), ("http://[fd00::1", "“]”")):
        s.engine.server_url = url
        [problem] = a.check(s)
        assert problem.key == "engine/server_url" and words in problem.text
        assert not a.server_url_ok(url)
    for url in ("https://[fd00::1]:8998", "https://gpu-box", "wss://gpu-box:443/chat"):
        s.engine.server_url = url
        assert a.check(s) == [] and a.server_url_ok(url)
