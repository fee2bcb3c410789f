"""The sound server's own devices (tests/pulse.py's real PulseAudio daemon): listed by
their descriptions, and a stream opened on one reaches that one, not the default."""

from __future__ import annotations

import os
import subprocess
import threading

import numpy as np
import pytest

from arcus_desktop.audio import sound_server
from arcus_desktop.audio.chime import NOTES_HZ, play_chime
from arcus_desktop.audio.devices import find, list_devices
from arcus_desktop.audio.duplex import FRAME, RATE, DuplexAudio
from arcus_desktop.audio.level import LevelMeter

from ..pulse import feed, steady_sink
from ..supabase_stack import wait_until


def load(*args: str) -> str:
    return subprocess.run(["pactl", "load-module", *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def null_sink(name: str, description: str) -> str:
    return load("module-null-sink", f"sink_name={name}", "rate=48000",
                f"sink_properties='device.description=\"{description}\"'")


@pytest.fixture
def two_sinks(pulse):
    """Besides the default speaker ("Null Output"): "Desk Speakers" and "USB Headset"."""
    null_sink("desk", "Desk Speakers")
    null_sink("usb", "USB Headset")
    return pulse


class Recorder:
    """What a sink plays, recorded from its monitor at 24 kHz. Read as it comes: parec
    stops recording once its pipe is full (64 KB, 1.4 s here)."""

    def __init__(self, sink: str) -> None:
        self._child = subprocess.Popen(["parec", "-d", f"{sink}.monitor", "--format=s16le",
                                        f"--rate={RATE}", "--channels=1", "--latency-msec=20"],
                                       stdout=subprocess.PIPE)
        self.started = threading.Event()  # the monitor's first bytes came
        self._chunks: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while chunk := os.read(self._child.stdout.fileno(), 65536):
            self._chunks.append(chunk)
            self.started.set()

    def stop(self) -> np.ndarray:
        self._child.terminate()
        self._child.wait(10)
        self._reader.join(10)
        out = b"".join(self._chunks)
        return np.frombuffer(out[:len(out) // 2 * 2], "<i2").astype(np.float32) / 32768


def strength(x: np.ndarray, hz: float) -> float:
    """How much of `x` is at `hz` (its amplitude there, about)."""
    if x.size < RATE // 10:
        return 0.0
    spectrum = np.abs(np.fft.rfft(x)) * 2 / x.size
    freqs = np.fft.rfftfreq(x.size, 1 / RATE)
    return float(spectrum[np.abs(freqs - hz) < 10].max())


def test_the_servers_devices_are_listed_by_their_descriptions(two_sinks):
    devices = list_devices()
    outputs = [d.name for d in devices if d.outputs]
    inputs = [d.name for d in devices if d.inputs]
    assert outputs[0] == "Null Output"  # the server's default first
    assert sorted(outputs) == ["Desk Speakers", "Null Output", "USB Headset"]
    assert len(inputs) == 1 and inputs[0].startswith("Unix FIFO source")  # monitors left out
    assert {d.server_name for d in devices} == {"spk", "desk", "usb", "mic"}


def test_pactl_without_json_gives_the_same_list(two_sinks, monkeypatch):
    # pactl before 16 has no `-f json`: standing in for it, the JSON form is refused and
    # the text form (the real pactl's) is read instead.
    with_json = list_devices()
    monkeypatch.setattr(sound_server, "_json_list", lambda what: None)
    assert list_devices() == with_json


def test_without_a_sound_server_portaudios_list_stays(two_sinks):
    subprocess.run(["pactl", "exit"], check=True, capture_output=True)  # the daemon ends
    names = [d.name for d in list_devices(refresh=True)]
    assert not {"Desk Speakers", "USB Headset"} & set(names)
    assert all(not d.server_name for d in list_devices())


def test_playback_reaches_the_chosen_sink(two_sinks):
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(FRAME) / RATE)).astype(np.float32)
    stop = threading.Event()
    with steady_sink("usb"):
        usb, desk = Recorder("usb"), Recorder("desk")
        feed(two_sinks, np.zeros(RATE, np.float32), stop, loop=True)  # a quiet microphone
        try:
            with DuplexAudio(None, "USB Headset") as audio:
                assert audio.output_name == "USB Headset"
                for _ in range(30):  # 2.4 s, as the engine's loop runs
                    assert audio.read_frame(timeout=5.0) is not None
                    audio.write_frame(tone)
        finally:
            stop.set()
        on_usb, on_desk = usb.stop(), desk.stop()
    assert strength(on_usb, 440) > 0.1
    assert strength(on_desk, 440) < 0.001


def test_the_test_sound_plays_on_the_chosen_sink(two_sinks):
    with steady_sink("desk"):
        usb, desk = Recorder("usb"), Recorder("desk")
        assert play_chime("Desk Speakers") == "Desk Speakers"
        on_usb, on_desk = usb.stop(), desk.stop()
    assert strength(on_desk, NOTES_HZ[0]) > 0.01 and strength(on_desk, NOTES_HZ[1]) > 0.01
    assert strength(on_usb, NOTES_HZ[0]) < 0.001


def test_the_meter_hears_the_chosen_microphone(pulse, tmp_path):
    fifo = tmp_path / "usb-mic.fifo"
    load("module-pipe-source", "source_name=usbmic", f"file={fifo}", "format=s16le",
         f"rate={RATE}", "channels=1", "source_properties='device.description=\"USB Mic\"'")
    assert find("USB Mic", "input") is not None
    stop = threading.Event()
    tone = (0.5 * np.sin(2 * np.pi * 300 * np.arange(RATE) / RATE)).astype(np.float32)
    feed(fifo, tone, stop, loop=True)
    feed(pulse, np.zeros(RATE, np.float32), stop, loop=True)  # the default: silent
    chosen, default = LevelMeter("USB Mic"), LevelMeter(None)
    try:
        assert chosen.name == "USB Mic"
        wait_until(lambda: chosen.level() > 0.8, "the chosen microphone's level")
        # The default microphone delivers too (silence), and shows nothing.
        heard = []
        wait_until(lambda: heard.append(default.level()) or len(heard) > 20, "20 looks")
        assert max(heard) == 0.0
    finally:
        stop.set()
        chosen.close()
        default.close()
