"""Audio devices as a user should see them: each once (PortAudio lists a device under
every host API that reaches it), with the system default first."""

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


def list_devices(refresh: bool = False) -> list[Device]:
    """Inputs and outputs, each name once. `refresh` re-reads the system's devices
    (PortAudio only looks when it starts), so plugged-in headsets appear."""
    import sounddevice as sd

    if refresh:
        sd._terminate()
        sd._initialize()
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
