"""The file player (audio/player.py) on a real PulseAudio daemon (tests/pulse.py): a WAV
reaches the chosen sink and not the other, stop stops, seek moves, a bad file or an
absent speaker is a message, and a speaker pulled out mid-play is a failure, not a hang."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from arcus_desktop.audio.devices import list_devices
from arcus_desktop.audio.duplex import AudioDeviceError
from arcus_desktop.audio.files import write_wav
from arcus_desktop.audio.player import FAILED, FINISHED, PLAYING, STOPPED, FilePlayer
from arcus_desktop.core.errors import AudioFileError

from ..pulse import headset, steady_sink
from ..supabase_stack import wait_until
from .test_sound_server_devices import Recorder, null_sink, strength

RATE = 24_000


def tone(hz: float, seconds: float, amplitude: float = 0.3) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * hz * np.arange(int(RATE * seconds)) / RATE)
            ).astype(np.float32)


def wav(tmp_path, *parts: np.ndarray, name: str = "tone.wav"):
    path = tmp_path / name
    write_wav(path, np.concatenate(parts), RATE)
    return path


def recording(sink: str) -> Recorder:
    """A Recorder of `sink` that has begun (parec starts slowly on a busy machine, and
    would miss the start): its monitor has delivered. The sink must be kept running
    (steady_sink), or its first block may take 2 s."""
    recorder = Recorder(sink)
    if not recorder.started.wait(20):
        recorder.stop()
        raise TimeoutError(f"{sink}.monitor delivered nothing within 20 s")
    return recorder


def streams_on(sink: str) -> int:
    """How many streams play on `sink` now."""
    out = subprocess.run(["pactl", "list", "short", "sink-inputs"], check=True,
                         capture_output=True, text=True).stdout
    index = subprocess.run(["pactl", "list", "short", "sinks"], check=True, capture_output=True,
                           text=True).stdout
    sink_id = next(line.split()[0] for line in index.splitlines() if line.split()[1] == sink)
    return sum(1 for line in out.splitlines() if line.split()[1] == sink_id)


@pytest.fixture
def two_sinks(pulse):
    """Besides the default speaker: "Desk Speakers" and "USB Headset"."""
    null_sink("desk", "Desk Speakers")
    null_sink("usb", "USB Headset")
    return pulse


def test_a_wav_plays_to_the_end_on_the_chosen_sink_not_the_other(two_sinks, tmp_path):
    path = wav(tmp_path, tone(440, 1.5))
    with steady_sink("desk"):
        desk, usb = recording("desk"), Recorder("usb")
        player = FilePlayer(path, "Desk Speakers").start()
        assert player.device_name == "Desk Speakers"
        assert player.duration == pytest.approx(1.5, abs=0.01)
        assert player.wait(30) == FINISHED
        assert player.position == pytest.approx(1.5, abs=0.01)
        assert player.wait_closed()
        on_desk, on_usb = desk.stop(), usb.stop()
    assert strength(on_desk, 440) > 0.1
    assert strength(on_usb, 440) < 0.001


def test_stop_stops_at_once(two_sinks, tmp_path):
    path = wav(tmp_path, tone(440, 20))
    with steady_sink("usb"):
        before = streams_on("usb")
        player = FilePlayer(path, "USB Headset").start()
        wait_until(lambda: player.position > 0.3, "playing")
        assert streams_on("usb") == before + 1
        player.stop()
        assert player.check() == STOPPED
        at = player.position
        assert player.wait_closed()
        assert streams_on("usb") == before  # its stream is gone from the sink
        assert player.position == at and player.check() == STOPPED
        player.start()  # a stopped player stays stopped
        assert player.check() == STOPPED


def test_seek_moves_the_position_and_what_is_heard(two_sinks, tmp_path):
    # 300 Hz for 4 s, then 900 Hz for 4 s: seeking to 4.5 s at once skips the 300 Hz.
    path = wav(tmp_path, tone(300, 4), tone(900, 4))
    with steady_sink("desk"):
        desk = recording("desk")
        player = FilePlayer(path, "Desk Speakers").start()
        assert player.seek(4.5)
        assert player.position >= 4.5
        wait_until(lambda: player.position > 5.0, "playing on from 4.5 s")
        assert player.wait(30) == FINISHED
        player.wait_closed()
        heard = desk.stop()
    assert strength(heard, 900) > 0.1
    assert strength(heard, 900) > 5 * strength(heard, 300)


def test_seek_outside_the_decoded_part_is_refused(pulse, tmp_path):
    path = wav(tmp_path, tone(440, 6))
    player = FilePlayer(path, None, start_s=2.0, max_seconds=2.0)
    try:
        assert player.more and player.duration == pytest.approx(6.0, abs=0.01)
        assert player.position == pytest.approx(2.0) and player.end_s == pytest.approx(4.0)
        assert not player.seek(5.0) and not player.seek(1.0)
        assert player.seek(3.0) and player.position == pytest.approx(3.0)
    finally:
        player.stop()
        assert player.wait_closed()


def test_a_missing_or_damaged_file_says_so(pulse, tmp_path):
    with pytest.raises(AudioFileError) as missing:
        FilePlayer(tmp_path / "gone.wav")
    assert "gone.wav does not exist" in missing.value.user_text()
    damaged = tmp_path / "damaged.wav"
    damaged.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt " + bytes(range(256)) * 8)
    with pytest.raises(AudioFileError) as bad:
        FilePlayer(damaged)
    assert "damaged.wav is not an audio file that can be read" in bad.value.user_text()
    assert bad.value.hint  # what to do instead


def test_a_speaker_that_is_not_connected_says_so(pulse, tmp_path):
    with pytest.raises(AudioDeviceError) as absent:
        FilePlayer(wav(tmp_path, tone(440, 1)), "Bluetooth Earbuds")
    assert absent.value.user_text().startswith("The speaker “Bluetooth Earbuds” is not "
                                               "connected.")


def test_a_speaker_pulled_out_while_playing_is_a_failure_not_a_hang(pulse, tmp_path):
    path = wav(tmp_path, tone(440, 30))
    with headset() as device:
        list_devices(refresh=True)  # PortAudio sees the headset only after a rescan
        player = FilePlayer(path, "headset").start()
        wait_until(lambda: player.position > 0.5 and player.check() == PLAYING, "playing")
        device.unplug()
        assert player.wait(30) == FAILED
        assert player.error.startswith("“headset” stopped playing: it was disconnected")
        assert "choose another speaker" in player.error
        assert player.position < 10  # it did not play on into nowhere
        assert player.wait_closed()
    list_devices(refresh=True)
