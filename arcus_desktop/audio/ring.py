"""A ring buffer between a PortAudio callback and the engine's thread. One side writes,
the other reads; the callback side only copies. Samples that do not fit are dropped and
counted (overruns); reads from an empty ring get silence, also counted (underruns)."""

from __future__ import annotations

import threading

import numpy as np


class Ring:
    def __init__(self, capacity: int) -> None:
        self._buf = np.zeros(capacity, np.float32)
        self._written = 0  # totals, only ever increased by their one side
        self._read = 0
        self.overruns = 0  # samples dropped because the ring was full
        self.underruns = 0  # samples of silence given because it was empty
        self._more = threading.Event()

    @property
    def capacity(self) -> int:
        return self._buf.size

    @property
    def written(self) -> int:
        """Samples ever written (the writer's count)."""
        return self._written

    @property
    def consumed(self) -> int:
        """Samples ever read or skipped (the reader's count)."""
        return self._read

    def available(self) -> int:
        return self._written - self._read

    def write(self, data: np.ndarray) -> int:
        n = min(data.size, self.capacity - self.available())
        self.overruns += data.size - n
        start = self._written % self.capacity
        first = min(n, self.capacity - start)
        self._buf[start:start + first] = data[:first]
        self._buf[:n - first] = data[first:n]
        self._written += n
        self._more.set()
        return n

    def read_into(self, out: np.ndarray) -> int:
        """Fill `out`; what the ring lacks is silence (and an underrun). Samples read."""
        n = min(out.size, self.available())
        start = self._read % self.capacity
        first = min(n, self.capacity - start)
        out[:first] = self._buf[start:start + first]
        out[first:n] = self._buf[:n - first]
        out[n:] = 0.0
        self.underruns += out.size - n
        self._read += n
        return n

    def read(self, n: int) -> np.ndarray:
        """Up to `n` samples: as many as are there, without padding."""
        out = np.empty(min(n, self.available()), np.float32)
        self.read_into(out)
        return out

    def skip(self, n: int) -> int:
        """Drop up to `n` of the oldest samples (the reader's side); how many went."""
        n = max(0, min(n, self.available()))
        self._read += n
        return n

    def wait_for(self, n: int, timeout: float) -> bool:
        """Block until `n` samples can be read, or `timeout` seconds pass."""
        while self.available() < n:
            self._more.clear()
            if self.available() >= n:
                return True
            if not self._more.wait(timeout):
                return self.available() >= n
        return True
