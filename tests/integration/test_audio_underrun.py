"""A callback that comes too late (a busy machine) through a real PulseAudio daemon
(tests/pulse.py). The speaker underruns and ALSA's pulse plugin replaces its PulseAudio
stream (a new sink input); on the idle null sink here the new one waits for the sink's
next block, ~1.9 s. On a running sink the same underrun costs ~0.1 s. Either way it is
the stream restarting, not a device going away."""

from __future__ import annotations

import sys
import threading
import time

import numpy as np

from arcus_desktop.audio.duplex import FRAME, RATE, DuplexAudio

from ..pulse import feed

def hold_the_gil(seconds: float) -> None:
    """Keep every other Python thread (the PortAudio callback's) from running, as a
    machine whose cores are all taken does, for `seconds`."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(10 * seconds)
    try:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            pass
    finally:
        sys.setswitchinterval(interval)


def test_an_underrun_is_waited_out_not_taken_for_a_lost_device(pulse):
    tone = (0.3 * np.sin(2 * np.pi * 700 * np.arange(RATE) / RATE)).astype(np.float32)
    stop = threading.Event()
    feed(pulse, tone, stop, loop=True, realtime=True)
    notices = []
    reply = np.zeros(FRAME, np.float32)
    try:
        with DuplexAudio(on_notice=notices.append) as audio:
            for _ in range(25):  # 2 s of conversation: audio is flowing
                assert audio.read_frame(timeout=5.0) is not None
                audio.write_frame(reply)
            xruns, before = audio.stats.device_xruns, len(notices)
            for _ in range(5):  # until it underruns (the sound server's buffer may cover one)
                hold_the_gil(0.3)
                for _ in range(3):
                    assert audio.read_frame(timeout=5.0) is not None
                    audio.write_frame(reply)
                if audio.stats.device_xruns > xruns:
                    break
            assert audio.stats.device_xruns > xruns
            for _ in range(40):  # through the pause and 2 s beyond, as the engine reads
                assert audio.read_frame(timeout=5.0) is not None
                audio.write_frame(reply)
            assert notices[before:] == [], [n.message for n in notices]  # nothing stopped working
    finally:
        stop.set()
