"""Devices that come and go, through a real PulseAudio daemon (tests/pulse.py): a chosen
device that is absent, a headset pulled out mid-conversation (its own daemon, reached by
PortAudio as an ALSA device), an explicit switch, and the sound server dying. (No sound
system at all when opening: test_audio_devices.py.)

Each microphone plays its own tone, so a frame tells which device it came from: the
headset 300 Hz, the system default 700 Hz."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from arcus_desktop.audio.devices import list_devices
from arcus_desktop.audio.duplex import FRAME, RATE, AudioDeviceError, DuplexAudio
from arcus_desktop.audio.streams import CLOSE_S

from ..pulse import feed, headset, steady_sink

HEADSET_HZ, DEFAULT_HZ = 300, 700
ROOT = Path(__file__).resolve().parents[2]


def _tone(hz: float, amplitude: float = 0.3) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * hz * np.arange(RATE) / RATE)).astype(np.float32)


def _pitch(frame: np.ndarray) -> float:
    """The strongest frequency in an 80 ms frame (12.5 Hz apart), 0 for silence."""
    if np.sqrt(np.mean(frame ** 2)) < 0.01:
        return 0.0
    return float(np.argmax(np.abs(np.fft.rfft(frame))) * RATE / frame.size)


def _playing(pactl) -> int:
    """How many streams play on a daemon's sinks now."""
    return len(pactl("list", "short", "sink-inputs").splitlines())


def _main_pactl(*args: str) -> str:
    return subprocess.run(["pactl", *args], check=True, capture_output=True, text=True).stdout


def _told(notices) -> list[str]:
    """The reasons of the notices, less restarts of a stream on the same devices (PortAudio
    over ALSA's pulse plugin ends a healthy stream now and then; DuplexAudio reopens it)."""
    return [n.reason for n in notices if n.reason != "restarted"]


def _read_until(audio: DuplexAudio, done, timeout: float = 10.0) -> list[np.ndarray]:
    """Frames, as the engine reads them (writing one back for each), until `done(frame)`."""
    frames, deadline = [], time.monotonic() + timeout
    reply = _tone(440)[:FRAME]
    while time.monotonic() < deadline:
        frame = audio.read_frame(timeout=5.0)
        assert frame is not None, "the microphone delivered nothing for 5 s"
        frames.append(frame)
        audio.write_frame(reply)
        if done(frame):
            return frames
    raise AssertionError(f"timed out; last pitches {[_pitch(f) for f in frames[-5:]]}")


@pytest.fixture
def microphones(pulse):
    """The system default microphone playing 700 Hz and a plugged-in headset whose
    microphone plays 300 Hz, both as a microphone would (in real time)."""
    stop = threading.Event()
    with steady_sink(), headset() as device:
        feed(pulse, _tone(DEFAULT_HZ), stop, loop=True, realtime=True)
        feed(device.fifo, _tone(HEADSET_HZ), stop, loop=True, realtime=True)
        list_devices(refresh=True)  # PortAudio sees the headset only after a rescan
        yield device
        stop.set()


def test_a_chosen_device_that_is_absent_falls_back_to_the_default_with_a_notice(microphones):
    notices = []
    with DuplexAudio("USB Headset", "USB Headset", on_notice=notices.append) as audio:
        assert _told(notices) == ["fallback"]
        assert "“USB Headset” is not connected" in notices[0].message
        assert audio.input_name in notices[0].message
        _read_until(audio, lambda f: _pitch(f) == DEFAULT_HZ)
    # A stale PortAudio index is treated the same way.
    notices.clear()
    with DuplexAudio(999, 999, on_notice=notices.append) as audio:
        assert _told(notices) == ["fallback"]
        _read_until(audio, lambda f: _pitch(f) == DEFAULT_HZ)


def test_a_headset_pulled_mid_conversation_is_replaced_by_the_default(microphones, pulse):
    speaker = subprocess.Popen(["parec", "-d", "spk.monitor", "--format=s16le", f"--rate={RATE}",
                                "--channels=1", "--latency-msec=20"], stdout=subprocess.PIPE)
    notices, told_at = [], []

    def on_notice(notice):
        notices.append(notice)
        told_at.append(time.monotonic())

    on_headset, on_default = _playing(microphones.pactl), _playing(_main_pactl)
    try:
        with DuplexAudio("headset", "headset", on_notice=on_notice) as audio:
            assert audio.input_name == audio.output_name == "headset"
            # The stream is the headset's: its microphone is heard, its speaker plays us,
            # the default speaker does not.
            _read_until(audio, lambda f: _pitch(f) == HEADSET_HZ)
            assert _playing(microphones.pactl) == on_headset + 1
            assert _playing(_main_pactl) == on_default

            microphones.unplug()
            pulled = time.monotonic()
            # The headset's streams are gone (PulseAudio had nowhere to move them): the
            # stream PortAudio had open is broken, not quietly rerouted.
            assert not microphones.pactl("list", "short", "source-outputs").strip()
            _read_until(audio, lambda f: _pitch(f) == DEFAULT_HZ)

            assert _told(notices) == ["lost"], [n.message for n in notices]
            lost = next(i for i, n in enumerate(notices) if n.reason == "lost")
            assert told_at[lost] - pulled < 2.0, told_at[lost] - pulled  # within ~a second
            assert notices[lost].message.startswith("“headset” was disconnected; now using “")
            assert audio.input_name != "headset" and audio.input_name in notices[lost].message
            assert (notices[lost].input_name, notices[lost].output_name) == (
                audio.input_name, audio.output_name)
            # The conversation carries on: the default microphone keeps coming, and what
            # the engine writes plays on the default speaker.
            assert _playing(_main_pactl) == on_default + 1
            frames = []
            for _ in range(25):  # 2 s more of conversation
                frames.append(audio.read_frame(timeout=5.0))
                audio.write_frame(_tone(440)[:FRAME])
            assert all(f is not None and _pitch(f) == DEFAULT_HZ for f in frames)
    finally:
        speaker.terminate()
    played = np.frombuffer(speaker.communicate(timeout=10)[0], "<i2").astype(np.float32) / 32768
    assert played.size > RATE
    assert abs(_pitch(played[-FRAME:]) - 440) < 13


def test_reopen_switches_devices_mid_conversation(microphones):
    notices = []
    with DuplexAudio(on_notice=notices.append) as audio:
        _read_until(audio, lambda f: _pitch(f) == DEFAULT_HZ)
        audio.reopen("headset", "headset")
        assert _told(notices) == ["changed"]
        assert notices[-1].message == "Now using “headset”."
        _read_until(audio, lambda f: _pitch(f) == HEADSET_HZ)
        audio.reopen("Bluetooth Earbuds", None)
        assert notices[-1].reason == "fallback"
        assert notices[-1].message.startswith(
            "The microphone “Bluetooth Earbuds” is not connected; using “")
        _read_until(audio, lambda f: _pitch(f) == DEFAULT_HZ)


def test_the_sound_server_dying_mid_conversation_is_an_error_not_a_hang(pulse):
    # libpulse can deadlock when its server goes away under an open stream, and then
    # PortAudio can never be restarted in that process: so this runs in a child process.
    with steady_sink():
        child = subprocess.run(
            [sys.executable, "-c", "from tests.integration.test_audio_device_loss import "
             f"server_dies; server_dies({str(pulse)!r})"],
            capture_output=True, text=True, timeout=120, cwd=ROOT,
            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert child.returncode == 0, child.stderr[-3000:]
    result = json.loads(child.stdout.strip().splitlines()[-1])
    # read_frame came back instead of hanging: noticing (about 1 s) plus the wait for a
    # close that never ends (CLOSE_S), with room for a busy machine.
    assert result["seconds"] < 3.0 + CLOSE_S, result
    assert result["message"] and result["hint"], result  # "stuck" here: libpulse deadlocked


def server_dies(fifo: str) -> None:
    """The child's side: a conversation on the default devices, then `pactl exit`."""
    feed(fifo, _tone(DEFAULT_HZ), threading.Event(), loop=True, realtime=True)
    audio = DuplexAudio()
    audio.start()
    _read_until(audio, lambda f: _pitch(f) == DEFAULT_HZ)
    for _ in range(13):  # a second of conversation
        audio.read_frame(timeout=5.0)
    subprocess.run(["pactl", "exit"], check=True, capture_output=True)
    stopped = time.monotonic()
    try:
        _read_until(audio, lambda f: False, timeout=30)
        result = {"seconds": None}
    except AudioDeviceError as e:
        result = {"seconds": time.monotonic() - stopped, "message": e.message, "hint": e.hint,
                  "stuck": audio.stuck}
    print(json.dumps(result), flush=True)
    os._exit(0)  # what a process with a stuck stream must do (see DuplexAudio.stuck)
