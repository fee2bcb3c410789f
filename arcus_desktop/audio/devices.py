"""Audio devices as a user should see them: each once (PortAudio lists a device under
every host API that reaches it), with the system default first. Users choose devices
by name; PortAudio's indices change whenever its list is re-read.

Where a sound server runs (PulseAudio, PipeWire), PortAudio sees it as one ALSA device
("pulse"): the list is then the server's own devices, by their descriptions, and one
is reached through that ALSA device by naming it in the environment as the stream
opens (see `reaching`)."""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

from . import sound_server

# Host APIs in the order a device is best reached through (the first one found wins).
PREFERRED = ("Windows WASAPI", "Core Audio", "PulseAudio", "ALSA", "Windows DirectSound",
             "MME", "JACK Audio Connection Kit", "OSS")
# ALSA devices that lead to the sound server, in the order tried to reach its devices.
SERVER_ROUTES = ("pulse", "pipewire", "default")


class Routed(int):
    """PortAudio's index of the ALSA device leading to the sound server, with which of
    the server's devices a stream opened on it should reach."""

    server_name: str
    label: str

    def __new__(cls, index: int, server_name: str, label: str) -> "Routed":
        self = super().__new__(cls, index)
        self.server_name, self.label = server_name, label
        return self

    def __eq__(self, other) -> bool:  # the same route to another device is another device
        if not isinstance(other, int):
            return NotImplemented
        return int(self) == int(other) and getattr(other, "server_name", "") == self.server_name

    def __ne__(self, other) -> bool:
        return not self == other

    __hash__ = int.__hash__


@dataclass(frozen=True)
class Device:
    index: int  # PortAudio's index, valid until the next refresh (a Routed one for
    name: str   # a sound server's device)
    inputs: int
    outputs: int
    rate: float  # the rate the device runs at by default
    default: bool
    server_name: str = ""  # the sound server's own name for it, "" for PortAudio's own


def _rank(hostapi_name: str) -> int:
    return PREFERRED.index(hostapi_name) if hostapi_name in PREFERRED else len(PREFERRED)


# Streams opening or closing, and PortAudio restarting: one at a time (a restart while
# a stream closes on another thread can deadlock inside PortAudio).
portaudio_lock = threading.RLock()
_closing: set[threading.Thread] = set()  # see close_off_thread
CLOSING_WAIT_S = 5.0  # a close gives up after streams.CLOSE_S


def close_off_thread(close: Callable[[], object]) -> threading.Thread:
    """`close()` (closing streams) on a thread of its own under portaudio_lock: the
    caller (the GUI thread) never waits on the sound system. The next `rescan` waits for
    it first: a restart under a stream still closing would free it beneath its closer."""

    def run() -> None:
        try:
            with portaudio_lock:
                close()
        finally:
            _closing.discard(thread)

    thread = threading.Thread(target=run, name="arcus-audio-close", daemon=True)
    _closing.add(thread)
    thread.start()
    return thread


def portaudio() -> tuple[str, str]:
    """PortAudio's version text and the library file sounddevice loaded it from (for
    `doctor` and the smoke test). ImportError or OSError when there is none."""
    import sounddevice as sd

    return sd.get_portaudio_version()[1], sd._libname


def rescan() -> None:
    """Re-read the system's devices: PortAudio only looks when it starts, so a headset
    plugged in (or pulled) since then is missing (or still listed). Every stream of
    this process must be closed first: restarting PortAudio invalidates them."""
    import sounddevice as sd

    for closer in list(_closing):
        closer.join(CLOSING_WAIT_S)
    with portaudio_lock:
        sd._terminate()
        sd._initialize()


def _portaudio_devices() -> list[Device]:
    import sounddevice as sd

    apis = sd.query_hostapis()
    defaults = set(sd.default.device) if sd.default.device is not None else set()
    best: dict[str, tuple[int, dict]] = {}
    for info in sd.query_devices():
        rank = _rank(apis[info["hostapi"]]["name"])
        name = info["name"].strip()
        if name not in best or rank < best[name][0]:
            best[name] = (rank, info)
    return [Device(info["index"], name, info["max_input_channels"],
                   info["max_output_channels"], float(info["default_samplerate"]),
                   info["index"] in defaults)
            for name, (_, info) in best.items()]


def _server_devices(portaudio: list[Device]) -> list[Device] | None:
    """The sound server's devices, each reached through its ALSA route; None when no
    server answers or PortAudio has no route to it."""
    route = next((d for name in SERVER_ROUTES for d in portaudio if d.name == name), None)
    found = sound_server.list_server_devices() if route is not None else None
    if not found:
        return None
    devices, seen = [], {}
    for s in found:
        # Two identical headsets share a description: the second is "… (2)".
        seen[(s.kind, s.description)] = count = seen.get((s.kind, s.description), 0) + 1
        name = s.description if count == 1 else f"{s.description} ({count})"
        index = Routed(route.index, s.name, name)
        inputs, outputs = (s.channels, 0) if s.kind == "input" else (0, s.channels)
        devices.append(Device(index, name, inputs, outputs, float(s.rate), s.default, s.name))
    return devices


def list_devices(refresh: bool = False) -> list[Device]:
    """Inputs and outputs, each name once: the sound server's devices where one runs,
    else PortAudio's. `refresh` re-reads PortAudio's devices (see `rescan()`), so
    plugged-in headsets appear (the server's are read afresh every time)."""
    if refresh:
        rescan()
    portaudio = _portaudio_devices()
    devices = _server_devices(portaudio) or portaudio
    return sorted(devices, key=lambda d: (not d.default, d.name.lower()))


def present_names() -> set[str]:
    """Every name `find` knows now: the server's devices and PortAudio's."""
    portaudio = _portaudio_devices()
    return {d.name for d in (_server_devices(portaudio) or []) + portaudio}


def find(device: int | str | None, kind: str) -> int | None:
    """PortAudio's index now for a device chosen by name (or by an index from the current
    list), or None for the system default. LookupError when it is not there or has no
    `kind` ("input" or "output") channels. A sound server's device is found by the name
    `list_devices` gives it (a Routed index: open it inside `reaching`); PortAudio's
    own names ("pulse", an ALSA device) are still found where a server runs."""
    if device is None:
        return None
    key = "inputs" if kind == "input" else "outputs"
    portaudio = _portaudio_devices()
    for d in (_server_devices(portaudio) or []) + portaudio:
        if (d.index == device if isinstance(device, int) else d.name == str(device).strip()) \
                and getattr(d, key) > 0:
            return d.index
    raise LookupError(device)


@contextmanager
def reaching(device: int | None, kind: str):
    """Open a stream on `device` (as `find` gave it) inside this: a sound server's
    device is named in the environment that ALSA's pulse plugin reads as it opens
    (libpulse's PULSE_SINK / PULSE_SOURCE; PipeWire's plugin reads PIPEWIRE_NODE),
    and set back after. Streams of this process open one at a time through here."""
    server_name = getattr(device, "server_name", "")
    keys = ("PULSE_SINK" if kind == "output" else "PULSE_SOURCE", "PIPEWIRE_NODE")
    with portaudio_lock:
        saved = {k: os.environ.get(k) for k in keys}
        try:
            if server_name:
                for k in keys:
                    os.environ[k] = server_name
            yield
        finally:
            for k, value in saved.items():
                if value is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = value


def name_of(index: int | None, kind: str) -> str:
    """The device's name as users see it (`index` None: the system default's)."""
    import sounddevice as sd

    if isinstance(index, Routed):
        return index.label
    try:
        return sd.query_devices(index, kind)["name"].strip()
    except (ValueError, sd.PortAudioError):
        return "the system default"
