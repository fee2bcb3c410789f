"""Audio devices as a user should see them: each once (PortAudio lists a device under
every host API that reaches it), with the system default first. Users choose devices
by name; PortAudio's indices change whenever its list is re-read."""

from __future__ import annotations

from dataclasses import dataclass

# Host APIs in the order a device is best reached through (the first one found wins).
PREFERRED = ("Windows WASAPI", "Core Audio", "PulseAudio", "ALSA", "Windows DirectSound",
             "MME", "JACK Audio Connection Kit", "OSS")


@dataclass(frozen=True)
class Device:
    index: int  # PortAudio's index, valid until the next refresh
    name: str
    inputs: int
    outputs: int
    rate: float  # the rate the device runs at by default
    default: bool


def _rank(hostapi_name: str) -> int:
    return PREFERRED.index(hostapi_name) if hostapi_name in PREFERRED else len(PREFERRED)


def rescan() -> None:
    """Re-read the system's devices: PortAudio only looks when it starts, so a headset
    plugged in (or pulled) since then is missing (or still listed). Every stream of
    this process must be closed first: restarting PortAudio invalidates them."""
    import sounddevice as sd

    sd._terminate()
    sd._initialize()


def list_devices(refresh: bool = False) -> list[Device]:
    """Inputs and outputs, each name once. `refresh` re-reads the system's devices
    (see `rescan()`), so plugged-in headsets appear."""
    import sounddevice as sd

    if refresh:
        rescan()
    apis = sd.query_hostapis()
    defaults = set(sd.default.device) if sd.default.device is not None else set()
    best: dict[str, tuple[int, dict]] = {}
    for info in sd.query_devices():
        rank = _rank(apis[info["hostapi"]]["name"])
        name = info["name"].strip()
        if name not in best or rank < best[name][0]:
            best[name] = (rank, info)
    devices = [Device(info["index"], name, info["max_input_channels"],
                      info["max_output_channels"], float(info["default_samplerate"]),
                      info["index"] in defaults)
               for name, (_, info) in best.items()]
    return sorted(devices, key=lambda d: (not d.default, d.name.lower()))


def find(device: int | str | None, kind: str) -> int | None:
    """PortAudio's index now for a device chosen by name (or by an index from the current
    list), or None for the system default. LookupError when it is not there or has no
    `kind` ("input" or "output") channels."""
    if device is None:
        return None
    key = "inputs" if kind == "input" else "outputs"
    for d in list_devices():
        if (d.index == device if isinstance(device, int) else d.name == str(device).strip()) \
                and getattr(d, key) > 0:
            return d.index
    raise LookupError(device)


def name_of(index: int | None, kind: str) -> str:
    """The device's name as users see it (`index` None: the system default's)."""
    import sounddevice as sd

    try:
        return sd.query_devices(index, kind)["name"].strip()
    except (ValueError, sd.PortAudioError):
        return "the system default"
