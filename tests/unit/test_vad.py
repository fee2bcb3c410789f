"""Voice activity on the real recordings, clean and under a room's noise, block by block
against where the clean recording has speech (tests/speech.py says how that is found).

Measured (bench/turns_accuracy.py), speech found / silence called speech:
  input_service   clean 1.000/0.000, white -45 dBFS 0.984/0.002, pink -45 0.997/0.002,
                  brown -35 1.000/0.000, pink -35 0.981/0.000, white -35 0.981/0.001
  input_assistant clean 0.999/0.000, white -45 0.998/0.003, pink -45 0.998/0.004,
                  brown -35 0.999/0.000, pink -35 0.989/0.002, white -35 0.991/0.000
Both recordings speak at about -20 dBFS, so -35 dBFS of noise is 15 dB below the voice."""

import numpy as np
import pytest

from arcus_desktop.audio.files import read_mono
from arcus_desktop.core.vad import VadConfig, VoiceActivity

from .. import speech
from ..conftest import AUDIO

FRAME = speech.FRAME


def _blocks(pcm: np.ndarray, config: VadConfig | None = None) -> np.ndarray:
    """Which 10 ms blocks the detector called speech (from its start and end times)."""
    vad = VoiceActivity(config)
    found = np.zeros(pcm.size // speech.BLOCK, bool)
    start = last = None
    for k in range(pcm.size // FRAME):
        a = vad.push(pcm[k * FRAME:(k + 1) * FRAME])
        if a.end is not None and start is not None:
            found[round(start * 100):round(a.end * 100)] = True
            start = None
        if a.start is not None:
            start = a.start
        if a.last is not None:
            last = a.last
    if start is not None:
        found[round(start * 100):round(last * 100)] = True
    return found


@pytest.fixture(scope="module", params=["input_service", "input_assistant"])
def recording(request):
    clean = read_mono(AUDIO / f"{request.param}.wav", speech.RATE)
    return clean, speech.speech_blocks(clean)


@pytest.mark.parametrize("kind,level", [(None, None), ("white", -45), ("pink", -45),
                                        ("brown", -35), ("pink", -35), ("white", -35)])
def test_speech_is_found_and_noise_is_not(recording, kind, level):
    clean, ref = recording
    pcm = clean if kind is None else clean + speech.noise(kind, clean.size, level)
    got = _blocks(pcm)[:ref.size]
    ref = ref[:got.size]
    assert np.sum(got & ref) / ref.sum() >= 0.97
    assert np.sum(got & ~ref) / (~ref).sum() <= 0.01


def test_onsets_and_offsets_to_the_block(recording):
    clean, ref = recording
    noisy = clean + speech.noise("pink", clean.size, -45)
    want, got = speech.spans(ref, 0.8), speech.spans(_blocks(noisy), 0.8)
    assert len(got) == len(want)
    for (a, b), (c, d) in zip(got, want):
        assert abs(a - c) <= 0.06 and abs(b - d) <= 0.15, (got, want)


def test_noise_alone_and_digital_silence_are_not_speech():
    n = 10 * speech.RATE
    for pcm in (np.zeros(n, np.float32), speech.noise("white", n, -40),
                speech.noise("pink", n, -30), speech.noise("brown", n, -25)):
        assert not _blocks(pcm).any()


def test_a_quiet_voice_on_a_quiet_line():
    """20 dB down (speech at -40 dBFS) over -60 dBFS of hiss: still found."""
    clean = read_mono(AUDIO / "input_service.wav", speech.RATE)
    ref = speech.speech_blocks(clean)
    got = _blocks(clean * 0.1 + speech.noise("white", clean.size, -60))
    assert np.sum(got & ref) / ref.sum() >= 0.95


def test_a_noise_that_starts_suddenly_is_learned_within_the_floor_window():
    """A fan switched on (pink noise 25 dB louder) reads as speech at first, then the
    floor catches up: never for longer than its window plus the hangover."""
    n = 12 * speech.RATE
    level = np.full(n, 10 ** (-60 / 20), np.float32)
    level[4 * speech.RATE:] = 10 ** (-35 / 20)
    got = _blocks(speech.noise("pink", n, 0.0) * level)
    cfg = VadConfig()
    assert np.sum(got) / 100 <= cfg.floor_window_s + cfg.hang_blocks / 100
    assert not got[8 * 100:].any()


def test_echo_bar():
    """A sound well below what was just played (echo the canceller left) is not speech."""
    clean = read_mono(AUDIO / "input_service.wav", speech.RATE)
    barred, free, meter = VoiceActivity(), VoiceActivity(), VoiceActivity()
    heard = 0
    for k in range(clean.size // FRAME):
        frame = clean[k * FRAME:(k + 1) * FRAME]
        played = meter.measure(frame)[0]
        assert not barred.push(frame * 0.03, guard_db=played, guard_margin_db=25.0).active
        heard += free.push(frame * 0.03).active  # 30 dB down is still speech without the bar
    assert heard >= 30


def test_frames_must_be_whole_blocks():
    with pytest.raises(ValueError):
        VoiceActivity().push(np.zeros(1000, np.float32))
