"""When each microphone sample was heard and when each speaker sample sounds, on
PortAudio's clock, from the stamps the callbacks leave (audio/streams.py).

One stamp is noisy: the sound server hands blocks over in bursts, and a callback's
estimate of when its first sample was heard moves by a block from one call to the
next. The offset between a sample's index and its time does not move (the device's
clock runs on), so the median of the recent ones is used."""

from __future__ import annotations

from collections import deque

KEEP = 49  # stamps: about half a second of 10 ms blocks


class Clock:
    def __init__(self, in_rate: int, out_rate: int) -> None:
        self.in_rate, self.out_rate = in_rate, out_rate
        self._heard: deque[float] = deque(maxlen=KEEP)  # time of microphone sample 0
        self._played: deque[float] = deque(maxlen=KEEP)  # time of speaker (tape) sample 0
        self._last = (None, None)

    def note(self, streams) -> None:
        """Take the streams' newest stamps (once each)."""
        if streams is None:
            return
        stamps = (streams.in_stamp, streams.out_stamp)
        for stamp, last, rate, into in zip(stamps, self._last, (self.in_rate, self.out_rate),
                                           (self._heard, self._played)):
            if stamp is not None and stamp is not last:
                index, at = stamp
                into.append(at - index / rate)
        self._last = stamps

    @property
    def ready(self) -> bool:
        return bool(self._heard) and bool(self._played)

    @staticmethod
    def _median(values) -> float:
        s = sorted(values)
        return s[len(s) // 2]

    def heard_at(self, index: int) -> float:
        """PortAudio's time when microphone sample `index` was heard."""
        base = self._median(self._heard) if self._heard else 0.0
        return base + index / self.in_rate

    def played_at(self, index: int) -> float | None:
        """PortAudio's time when speaker (tape) sample `index` sounds; None before any."""
        if not self._played:
            return None
        return self._median(self._played) + index / self.out_rate

    def played_index(self, at: float) -> float | None:
        """The speaker's (tape's) sample sounding at time `at`; None before any played."""
        if not self._played or not self._heard:
            return None
        return (at - self._median(self._played)) * self.out_rate
