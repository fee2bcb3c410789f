"""What the speaker was given, kept for a while and read back by position: the echo
canceller's reference. One side writes (the PortAudio callback), the other reads
samples written a little earlier, so the two never touch the same slots."""

from __future__ import annotations

import numpy as np


class Tape:
    def __init__(self, capacity: int) -> None:
        self._buf = np.zeros(capacity, np.float32)
        self.total = 0  # samples ever written; sample i sits at i % capacity

    def write(self, data: np.ndarray) -> None:
        n, cap = data.size, self._buf.size
        if n > cap:  # only the newest fit
            self.total += n - cap
            data, n = data[-cap:], cap
        start = self.total % cap
        first = min(n, cap - start)
        self._buf[start:start + first] = data[:first]
        self._buf[:n - first] = data[first:n]
        self.total += n

    def rewind(self, n: int) -> None:
        """Forget the newest `n` samples (queued, never played): the next write replaces them."""
        self.total -= max(0, min(n, self.total))

    def read_at(self, start: int, n: int) -> np.ndarray:
        """Samples start … start+n; silence for any not written yet or no longer kept."""
        out = np.zeros(n, np.float32)
        lo = max(start, self.total - self._buf.size)
        hi = min(start + n, self.total)
        cap, i = self._buf.size, lo
        while i < hi:  # at most two slices: up to the end of the buffer, then from its start
            at = i % cap
            j = min(hi, i + cap - at)
            out[i - start:j - start] = self._buf[at:at + j - i]
            i = j
        return out
