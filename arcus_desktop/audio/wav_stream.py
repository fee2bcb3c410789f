"""A 16-bit PCM WAV written as it goes: samples are appended and the header's sizes are
patched every so often, so the file plays (up to the last patch) even if the process
dies; `repair` sets the sizes from the file's length afterwards."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

HEADER = 44


def header(rate: int, channels: int, data_bytes: int) -> bytes:
    block = channels * 2
    return (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * block, block, 16)
            + b"data" + struct.pack("<I", data_bytes))


def to_int16(pcm: np.ndarray) -> np.ndarray:
    return (np.clip(pcm, -1.0, 1.0) * 32767.0).astype(np.int16)


class WavStream:
    def __init__(self, path: str | os.PathLike, rate: int, channels: int) -> None:
        self.path = Path(path)
        self.rate, self.channels = rate, channels
        self.data_bytes = 0
        self._file = open(self.path, "wb")
        try:
            self._file.write(header(rate, channels, 0))
        except BaseException:
            self._file.close()
            raise

    def append(self, frames: np.ndarray) -> None:
        """int16 samples, shape (n, channels)."""
        data = np.ascontiguousarray(frames, dtype="<i2").tobytes()
        self._file.write(data)
        self.data_bytes += len(data)

    def sync(self) -> None:
        """Hand what was written to the OS and make the header say how much there is.
        (No fsync: a crashed process loses nothing the OS already has.)"""
        self._file.flush()
        self._file.seek(4)
        self._file.write(struct.pack("<I", 36 + self.data_bytes))
        self._file.seek(40)
        self._file.write(struct.pack("<I", self.data_bytes))
        self._file.seek(0, os.SEEK_END)
        self._file.flush()

    def close(self, durable: bool = False) -> None:
        if self._file.closed:
            return
        try:
            self.sync()
            if durable:
                os.fsync(self._file.fileno())
        finally:
            self._file.close()

    def abandon(self) -> None:
        """Close without another write (the disk may be full)."""
        try:
            self._file.close()
        except OSError:
            pass


def repair(path: str | os.PathLike, rate: int, channels: int) -> float:
    """Make a WAV left by a crash whole: drop a torn last sample, set the sizes from the
    file's length. Returns its duration in seconds."""
    path = Path(path)
    block = channels * 2
    size = path.stat().st_size
    data = max(0, size - HEADER) // block * block
    with open(path, "r+b") as f:
        if size < HEADER:
            f.truncate(0)
        else:
            f.truncate(HEADER + data)
        f.seek(0)
        f.write(header(rate, channels, data))
    return data / block / rate
