"""When each microphone sample was heard and when each speaker sample sounds, on
PortAudio's clock, from the stamps the callbacks leave (audio/streams.py).

One stamp is noisy: the sound server hands blocks over in bursts, and a callback's
estimate of when its first sample was heard moves by a block from one call to the
next. The offset between a sample's index and its time does not move (the device's
clock runs on), so the median of the recent ones is used."""

from __future__ import annotations

from collections import deque

KEEP = 49  # stamps: about half a second of 10 ms blocks
# The echo canceller needs its reference to run on without jumps: the tape position of
# microphone sample 0 is locked once known, and moved only when the stamps disagree
# with it by more than MOVE_S for MOVE_AFTER notes in a row (a reopened stream, an xrun).
# Not for less: through ALSA's pulse plugin the stamps' offset wandered by 20-40 ms for
# seconds while the real echo delay held still, and following it put the reference
# behind its echo (bench/echo_diag.py, 2026-12-06: 14 dB in that run).
MOVE_S = 0.1
MOVE_AFTER = 25


class Clock:
    def __init__(self, in_rate: int, out_rate: int) -> None:
        self.in_rate, self.out_rate = in_rate, out_rate
        self._heard: deque[float] = deque(maxlen=KEEP)  # time of microphone sample 0
        self._played: deque[float] = deque(maxlen=KEEP)  # time of speaker (tape) sample 0
        self._last = (None, None)
        self._lock: float | None = None  # tape index of microphone sample 0
        self._disagree = 0

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
        if len(self._heard) >= 10 and len(self._played) >= 10:
            self._relock()

    def _relock(self) -> None:
        now = (self._median(self._heard) - self._median(self._played)) * self.out_rate
        if self._lock is None:
            self._lock = now
        elif abs(now - self._lock) > MOVE_S * self.out_rate:
            self._disagree += 1
            if self._disagree >= MOVE_AFTER:
                self._lock, self._disagree = now, 0
        else:
            self._disagree = 0

    def tape_index(self, mic_index: float) -> float | None:
        """The speaker's (tape's) sample that sounded while microphone sample
        `mic_index` was heard, on the locked alignment; None until there is one."""
        if self._lock is None:
            return None
        return self._lock + mic_index * self.out_rate / self.in_rate

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
