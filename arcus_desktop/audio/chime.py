"""The "Test speaker" sound: two soft notes a fifth apart, short and not startling."""

from __future__ import annotations

import numpy as np

from . import devices
from .duplex import AudioDeviceError
from .streams import _close_all

NOTES_HZ = (659.25, 987.77)  # E5 then B5
NOTE_S = 0.32
LOUDNESS = 0.25  # of full scale: clearly heard, never harsh


def chime(rate: int) -> np.ndarray:
    """The sound at `rate`, mono float32: each note rings and fades (a soft attack, an
    exponential decay), the second starting as the first fades."""
    n = int(rate * NOTE_S)
    t = np.arange(int(rate * NOTE_S * 2.5)) / rate
    out = np.zeros(t.size)
    for i, hz in enumerate(NOTES_HZ):
        start = i * n
        tt = t[: t.size - start]
        envelope = np.minimum(1.0, tt / 0.01) * np.exp(-tt * 6)
        # A little of the octave above makes it a bell rather than a beep.
        out[start:] += envelope * (np.sin(2 * np.pi * hz * tt) + 0.3 * np.sin(4 * np.pi * hz * tt))
    out *= LOUDNESS / np.max(np.abs(out))
    return out.astype(np.float32)


def play_chime(device: str | None = None) -> str:
    """Play it on `device` (a name from `list_devices()`, None for the default) and wait
    until it has sounded; the name of the device it played on. LookupError when the
    device is not connected, AudioDeviceError when it will not open."""
    import sounddevice as sd

    index = devices.find(device or None, "output")
    rate = int(sd.query_devices(index, "output")["default_samplerate"])
    sound = chime(rate)
    name = devices.name_of(index, "output")
    try:
        with devices.reaching(index, "output"):
            stream = sd.OutputStream(device=index, samplerate=rate, channels=1,
                                     dtype="float32")
    except sd.PortAudioError as e:
        raise AudioDeviceError(f"“{name}” could not be opened ({e}).",
                               "Check that it is plugged in, or choose another speaker.") from e
    try:
        stream.start()
        stream.write(sound.reshape(-1, 1))
    except sd.PortAudioError as e:  # it went away while playing
        raise AudioDeviceError(f"“{name}” stopped playing ({e}).",
                               "Check that it is plugged in, or choose another speaker.") from e
    finally:
        with devices.portaudio_lock:  # drained: the sound's end is heard too
            _close_all([stream], drain=True)
    return name
