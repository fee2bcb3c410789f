import wave

import numpy as np
import pytest
import torch

from arcus_desktop.core.errors import AudioFileError, UnknownVoiceError
from arcus_desktop.core.persona import Persona
from arcus_desktop.engine import generator, testkit
from arcus_desktop.engine.voices import prepare_recording


def _write_wav(path, pcm: np.ndarray, rate: int) -> None:
    data = (np.clip(pcm, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(pcm.shape[1] if pcm.ndim == 2 else 1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(data.tobytes())


def test_every_preset_in_the_archive_is_listed_and_loads(tiny_engine):
    names = tiny_engine.voices.names()
    assert names == sorted(testkit.TEST_VOICES)
    for name in names:
        prepared = tiny_engine.prepare(Persona(text="Hi.", voice=name))
        assert prepared.voice == name


def test_unknown_voice_names_the_choices(tiny_engine):
    with pytest.raises(UnknownVoiceError) as err:
        tiny_engine.prepare(Persona(text="Hi.", voice="NOPE9"))
    assert "NATF2" in err.value.hint


def test_preset_replay_equals_stepping_its_codes(tiny_engine):
    """A .pt voice (embeddings + ring) conditions the model exactly like its codes."""
    lm, tok = tiny_engine.lm, tiny_engine.tokenizer
    codes = _voice_codes(tiny_engine, 1)  # NATF2 is the second test voice
    text = tok.encode("<system> Hello there. <system>")
    voice = tiny_engine.voices.load("NATF2", lm.dim)
    plans = [generator.plan_prompt(lm, text, voice_codes=codes),
             generator.plan_prompt(lm, text, voice_embeddings=voice.embeddings, voice_ring=voice.ring)]
    user = torch.randint(0, 2048, (15, 8), generator=torch.Generator().manual_seed(3))
    runs = []
    for plan in plans:
        with generator.Generator(lm, 1, generator.Sampling(greedy=True)) as gen:
            gen.start(0, plan)
            runs.append([gen.step(u[None]).frames[0].tolist() for u in user])
    assert runs[0] == runs[1]


def _voice_codes(engine, index):
    from arcus_desktop.audio.files import normalize_loudness
    from arcus_desktop.engine.voices import encode_recording

    pcm = normalize_loudness(testkit._voice_audio(index), 24000)
    return encode_recording(engine.mimi, pcm)


def test_own_recording_any_rate_and_channels_is_prepared_once(tiny_engine, tmp_path):
    rng = np.random.default_rng(5)
    stereo = (0.1 * rng.standard_normal((44100 * 2, 2))).astype(np.float32)
    path = tmp_path / "me.wav"
    _write_wav(path, stereo, 44100)
    cache = tmp_path / "cache"
    first = prepare_recording(path, tiny_engine.mimi, tiny_engine.loaded.files.mimi, cache)
    second = prepare_recording(path, tiny_engine.mimi, tiny_engine.loaded.files.mimi, cache)
    assert not first.cached and second.cached
    assert first.codes.shape == (25, 8)  # 2 s at 12.5 frames/s
    assert torch.equal(first.codes, second.codes)
    assert list((cache / "voices").glob("*.pt"))


def test_changed_recording_is_prepared_again(tiny_engine, tmp_path):
    path = tmp_path / "me.wav"
    cache = tmp_path / "cache"
    _write_wav(path, 0.1 * np.sin(np.arange(24000) / 10.0), 24000)
    prepare_recording(path, tiny_engine.mimi, tiny_engine.loaded.files.mimi, cache)
    _write_wav(path, 0.1 * np.sin(np.arange(24000) / 7.0), 24000)
    again = prepare_recording(path, tiny_engine.mimi, tiny_engine.loaded.files.mimi, cache)
    assert not again.cached


def test_persona_with_own_recording(tiny_engine, tmp_path):
    path = tmp_path / "me.wav"
    _write_wav(path, 0.1 * np.sin(np.arange(48000) / 9.0), 16000)
    prepared = tiny_engine.prepare(Persona(text="Hi.", voice_file=str(path)))
    assert prepared.voice == "me.wav"
    assert prepared.plan.prefix is None


@pytest.mark.parametrize("content", [b"", b"this is not audio at all" * 100])
def test_bad_recordings_are_clear_errors(tiny_engine, tmp_path, content):
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(AudioFileError):
        tiny_engine.prepare(Persona(text="Hi.", voice_file=str(path)))


def test_missing_recording_is_a_clear_error(tiny_engine, tmp_path):
    with pytest.raises(AudioFileError, match="does not exist"):
        tiny_engine.prepare(Persona(text="Hi.", voice_file=str(tmp_path / "gone.wav")))


@pytest.mark.parametrize("fmt,channels", [("FLAC", 2), ("MP3", 1), ("OGG", 1)])
def test_flac_mp3_and_ogg_recordings(tiny_engine, tmp_path, fmt, channels):
    import soundfile  # a test dependency, used to write the fixtures
    from arcus_desktop.audio.files import read_mono

    t = np.arange(48000) / 48000
    pcm = (0.2 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)
    path = tmp_path / f"voice.{fmt.lower()}"
    soundfile.write(path, np.stack([pcm] * channels, 1) if channels > 1 else pcm, 48000, format=fmt)
    mono = read_mono(path, 24000)
    assert abs(mono.size - 24000) < 2400  # 1 s (MP3 adds encoder padding)
    assert 0.05 < float(np.abs(mono).max()) < 0.5
    prepared = tiny_engine.prepare(Persona(text="Hi.", voice_file=str(path)))
    assert prepared.voice == path.name


def test_an_hour_long_recording_is_decoded_only_as_far_as_used(tiny_engine, tmp_path):
    # Issue 15: a small file of silence was decoded whole before its first 30 s were kept.
    from ..bombs import PeakMemory, silent_flac

    path = silent_flac(tmp_path / "me.flac", 60 * 60)  # ~0.5 MB on disk
    with PeakMemory() as peak:
        prepared = tiny_engine.prepare(Persona(text="Hi.", voice_file=str(path)))
    assert any("30 s" in note for note in prepared.notes), prepared.notes
    # The whole hour decoded is ~2 GiB at 48 kHz; the 30 s used, encoded, far less.
    assert peak.grew < 500 * 2**20, f"{peak.grew / 2**20:.0f} MiB"
