"""The speaker as the sound server's own stream (audio/pulse_out.py), through a real
PulseAudio daemon (tests/pulse.py): used where the server answers, written per reply
with only a margin queued ahead, its tape (the echo canceller's reference) on the
speaker's own time, and PortAudio's speaker wherever the server is not the way out."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from arcus_desktop.audio import pulse_out
from arcus_desktop.audio.devices import list_devices
from arcus_desktop.audio.duplex import FRAME, RATE, DuplexAudio
from arcus_desktop.audio.tape import Tape

from ..pulse import feed, headset, steady_sink
from ..supabase_stack import wait_until
from .test_sound_server_devices import Recorder


@pytest.fixture
def talking(pulse):
    """A microphone that hears a quiet room, and the null sink kept running."""
    stop = threading.Event()
    feed(pulse, np.zeros(RATE, np.float32), stop, loop=True)
    with steady_sink():
        yield pulse
    stop.set()


def _tone(hz: float, n: int = FRAME) -> np.ndarray:
    return (0.3 * np.sin(2 * np.pi * hz * np.arange(n) / RATE)).astype(np.float32)


def test_replies_go_to_the_sound_server_in_order(talking):
    monitor = Recorder("spk")
    # Recording before anything plays: the first bytes of the monitor have come.
    assert monitor.started.wait(20), "the monitor did not start"
    tones = [500, 1000, 1500, 2000, 2500, 3000]
    with DuplexAudio() as audio:
        assert audio.native_speaker
        for _ in range(10):  # the microphone's pace, as the engine's loop runs
            assert audio.read_frame(5.0) is not None
            audio.write_frame(np.zeros(FRAME, np.float32))
        for hz in tones:  # three frames of each, one after the other
            for _ in range(3):
                assert audio.read_frame(5.0) is not None
                audio.write_frame(_tone(hz))
        for _ in range(5):
            assert audio.read_frame(5.0) is not None
            audio.write_frame(np.zeros(FRAME, np.float32))
        stats = audio.stats
    played = monitor.stop()
    blocks = played[:played.size // 480 * 480].reshape(-1, 480)  # 20 ms each
    heard = []
    for block in blocks:
        if np.sqrt(np.mean(block ** 2)) > 0.1:
            hz = np.argmax(np.abs(np.fft.rfft(block * np.hanning(480)))) * RATE / 480
            heard.append(min(tones, key=lambda t: abs(t - hz)))
    order = [t for i, t in enumerate(heard) if i == 0 or heard[i - 1] != t]
    assert order == tones, heard
    for hz in tones:  # each tone's 240 ms sounded whole (20 ms blocks, edges aside)
        assert heard.count(hz) >= 10, heard
    assert stats.output_latency_ms > 0


def test_a_speaker_that_ran_dry_keeps_its_tape_on_the_speakers_time(talking):
    tape = Tape(4 * RATE)
    clock = [0.0]
    speaker = pulse_out.PulseSpeaker(RATE, None, tape, lambda: clock[0])
    try:
        first = speaker.write(_tone(440))
        assert first == round(pulse_out.MARGINS_S[0] * RATE)  # the margin goes first
        sounds_at = speaker.stamp[1]
        # The stream plays it out and runs dry (the server says so); a reply 0.5 s
        # later, by the clock the stamps are on, finds the margin put back first and
        # the half second of silence on the tape, so index and time still agree.
        wait_until(lambda: speaker.underflows >= 1, "the stream to run dry")
        wait_until(lambda: speaker.queued_s == 0, "the stream to be empty")
        clock[0] = 0.5
        second = speaker.write(_tone(660))
        index, at = speaker.stamp
        assert second - index == round(pulse_out.MARGINS_S[0] * RATE)
        assert abs((index - 0) / RATE - (at - sounds_at)) < 0.002
        assert tape.read_at(first, FRAME).std() > 0.1  # the first reply, where it was put
        assert tape.read_at(second, FRAME).std() > 0.1
    finally:
        speaker.close()


def test_without_a_sound_server_there_is_no_native_speaker(monkeypatch, tmp_path):
    monkeypatch.setenv("PULSE_SERVER", f"unix:{tmp_path / 'none'}")
    with pytest.raises(pulse_out.PulseError):
        pulse_out.PulseSpeaker(RATE, None, Tape(RATE), lambda: 0.0)


def test_a_device_the_server_does_not_own_keeps_portaudios_speaker(talking):
    # The headset is an ALSA device of its own (tests/pulse.py), as a card without a
    # sound server is: PortAudio reaches it, and the speaker stays PortAudio's.
    with headset() as device:
        list_devices(refresh=True)  # PortAudio sees the headset only after a rescan
        stop = threading.Event()
        feed(device.fifo, np.zeros(RATE, np.float32), stop, loop=True)
        try:
            with DuplexAudio(device.name, device.name) as audio:
                assert audio.output_name == device.name
                assert not audio.native_speaker
                for _ in range(5):
                    assert audio.read_frame(5.0) is not None
                    audio.write_frame(_tone(440))
        finally:
            stop.set()
