"""Real PortAudio streams through a real PulseAudio daemon (tests/pulse.py): the user's
recorded speech goes in through the microphone FIFO, the assistant's audio comes out
on the null sink and is recorded back from its monitor."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from arcus_desktop.audio.devices import list_devices
from arcus_desktop.audio.duplex import FRAME, RATE, DuplexAudio
from arcus_desktop.audio.files import read_mono

from ..conftest import AUDIO
from ..pulse import feed


def _envelope(x: np.ndarray, block: int = 480) -> np.ndarray:
    m = x.size // block * block
    return np.sqrt(np.mean(x[:m].reshape(-1, block) ** 2, axis=1))


def test_devices_are_listed_once_with_the_default_first(pulse):
    devices = list_devices()
    names = [d.name for d in devices]
    assert len(names) == len(set(names)) and devices[0].default
    # The sound server's own devices by their descriptions, not PortAudio's routes to it
    # (tests/integration/test_sound_server_devices.py has more).
    assert "Null Output" in names and not {"pulse", "default"} & set(names)
    assert all(d.rate > 0 for d in devices)


def test_duplex_frames_in_and_out_through_pulseaudio(pulse):
    speech = read_mono(AUDIO / "input_service.wav", RATE)[5 * RATE: 9 * RATE]  # the talking part
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(FRAME) / RATE)).astype(np.float32)
    monitor = subprocess.Popen(["parec", "-d", "spk.monitor", "--format=s16le", f"--rate={RATE}",
                                "--channels=1", "--latency-msec=20"], stdout=subprocess.PIPE)
    heard = []
    with DuplexAudio() as audio:
        feeder = feed(pulse, speech)  # written while the stream is open, as a user speaks
        for _ in range(45):  # 3.6 s of 80 ms frames, as the engine loop runs them
            frame = audio.read_frame(timeout=5.0)
            assert frame is not None and frame.shape == (FRAME,)
            heard.append(frame)
            audio.write_frame(tone)
        stats = audio.stats
    feeder.join(10)
    monitor.terminate()
    played = np.frombuffer(monitor.communicate(timeout=10)[0], "<i2").astype(np.float32) / 32768

    heard = np.concatenate(heard)
    # The microphone carried the recording: its loudness follows the file's, once aligned.
    env_heard, env_speech = _envelope(heard), _envelope(speech)
    best = max(np.corrcoef(env_heard[lag:lag + 100], env_speech[:100])[0, 1]
               for lag in range(0, 80))
    assert best > 0.8, best
    # The speaker played the tone: most of what the monitor recorded is at 440 Hz.
    spectrum = np.abs(np.fft.rfft(played[-RATE:]))
    freqs = np.fft.rfftfreq(RATE, 1 / RATE)
    assert abs(freqs[np.argmax(spectrum)] - 440) < 5
    # The reader kept up: nothing dropped on the way in; the speaker starved at most at the
    # start, before the first frame was written.
    assert stats.capture_overruns == 0
    assert stats.playback_underruns < audio.device_rate  # under a second of silence
    assert stats.output_latency_ms > 0


def test_a_device_that_cannot_be_opened_says_what_to_do(pulse):
    # A chosen device that is missing falls back to the default (test_audio_device_loss.py);
    # with no sound system at all, nothing opens.
    from arcus_desktop.audio.duplex import AudioDeviceError

    subprocess.run(["pactl", "exit"], check=True, capture_output=True)  # the daemon ends
    list_devices(refresh=True)
    with pytest.raises(AudioDeviceError) as e:
        DuplexAudio(input_device=999, output_device=999)
    assert "could be opened" in e.value.message
    assert "settings" in e.value.hint


def test_muted_microphone_gives_silence(pulse):
    speech = read_mono(AUDIO / "input_service.wav", RATE)[5 * RATE: 7 * RATE]
    with DuplexAudio() as audio:
        feeder = feed(pulse, speech)
        audio.muted = True
        frames = [audio.read_frame(timeout=5.0) for _ in range(10)]
    feeder.join(10)
    assert all(f is not None and not f.any() for f in frames)


def test_doctor_says_what_the_chosen_devices_add(pulse):
    from arcus_desktop.doctor import report

    rows = dict(report())
    # The frame, PortAudio's latencies for these devices; the canceller's block while Arcus speaks.
    assert rows["audio path"].startswith("about "), rows["audio path"]
    assert "“default” → “default” at 24000 Hz" in rows["audio path"]
    assert "echo cancellation 9 ms more while Arcus speaks" in rows["audio path"]
