"""The checks a voice recording gets (a file at Apply, a take when it stops), on the
shared speech recordings and on made-up silence, whisper and clipping."""

from __future__ import annotations

import numpy as np
import pytest

from arcus_desktop.audio.files import read_mono, write_wav
from arcus_desktop.audio.voice_check import (MAX_VOICE_SECONDS, MIN_VOICE_SECONDS, check_file,
                                             check_pcm)
from arcus_desktop.core.errors import AudioFileError

from ..conftest import AUDIO

RATE = 24_000


@pytest.fixture(scope="module")
def talk() -> np.ndarray:
    return read_mono(AUDIO / "input_assistant.wav", RATE)[3 * RATE:20 * RATE].copy()


def test_clear_speech_of_a_usable_length_passes(talk):
    result = check_pcm(talk[: 10 * RATE])
    assert result.ok and not result.warnings, result
    assert -35 < result.level_db < -10


def test_too_short_silent_quiet_and_clipped_are_told(talk):
    assert "too short" in " ".join(check_pcm(talk[: 2 * RATE]).errors)
    assert "silent" in " ".join(check_pcm(np.zeros(10 * RATE, np.float32)).errors)
    quiet = check_pcm(talk[: 10 * RATE] * 0.01)  # -40 dB: the microphone far away
    assert quiet.ok and "very quiet" in " ".join(quiet.warnings)
    loud = check_pcm(np.clip(talk[: 10 * RATE] * 30, -1, 1))
    assert loud.ok and "clipped" in " ".join(loud.warnings)
    assert MIN_VOICE_SECONDS == 5 and MAX_VOICE_SECONDS == 30  # what the page says


def test_a_file_is_read_with_the_decoders_caps(talk, tmp_path):
    long = tmp_path / "long.wav"
    write_wav(long, np.tile(talk, 3), RATE)  # 51 s: only the first 30 s are decoded
    result = check_file(long)
    assert result.ok and result.seconds == pytest.approx(51, abs=0.1)
    assert "only its first 30 s" in " ".join(result.warnings)
    notes = tmp_path / "notes.wav"
    notes.write_text("not a recording\n" * 100)
    with pytest.raises(AudioFileError, match="not an audio file"):
        check_file(notes)
