"""Audio files that are small on disk and huge decoded (issue 15), and a way to see how
much memory a piece of code made resident (Linux: VmHWM, reset via clear_refs)."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import numpy as np


def silent_flac(path: Path, seconds: int, rate: int = 48_000) -> Path:
    """`seconds` of silence as FLAC: about 150 bytes a second on disk, 4 bytes a sample
    decoded."""
    import soundfile  # a test dependency, used to write the fixtures

    block = np.zeros((rate * 60, 1), dtype=np.float32)
    with soundfile.SoundFile(path, "w", samplerate=rate, channels=1, format="FLAC",
                             subtype="PCM_16") as f:
        for _ in range(seconds // 60):
            f.write(block)
        f.write(block[: rate * (seconds % 60)])
    return path


def wav_header(path: Path, rate: int, channels: int, payload: bytes = bytes(4000)) -> Path:
    """A PCM WAV with whatever rate and channel count its header claims."""
    block = channels * 2
    fmt = struct.pack("<HHIIHH", 1, channels, rate, (rate * block) & 0xFFFFFFFF, block, 16)
    path.write_bytes(b"RIFF" + struct.pack("<I", 36 + len(payload)) + b"WAVEfmt "
                     + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(payload))
                     + payload)
    return path


def _status(pid: str, key: str) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"{key}:\s+(\d+) kB", text).group(1)) * 1024


class PeakMemory:
    """Resident memory a process reached above where it stood when the block began."""

    def __init__(self, pid: int | str = "self") -> None:
        self.pid = str(pid)

    def __enter__(self) -> PeakMemory:
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
        self.start = _status(self.pid, "VmRSS")
        return self

    def __exit__(self, *exc) -> None:
        self.grew = _status(self.pid, "VmHWM") - self.start
