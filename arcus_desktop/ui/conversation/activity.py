"""Voice activity from the engine's level meters, and the conversation's clock.

Levels come once per 80 ms frame (and may be dropped under load); text pieces carry the
time their audio plays. The clock counts level frames and never lags a piece's time."""

from __future__ import annotations

FRAME_S = 0.08


class ConversationClock:
    def __init__(self) -> None:
        self.time = 0.0  # seconds into the conversation of the next frame

    def reset(self) -> None:
        self.time = 0.0

    def frame(self) -> float:
        """A frame of levels arrived: its time."""
        now = self.time
        self.time += FRAME_S
        return now

    def seen(self, time: float) -> None:
        """Something timed `time` arrived: the clock is at least there."""
        self.time = max(self.time, time)


class SpeechGate:
    """Which frames carry speech, from their RMS level: a run of `onset` frames above
    `start_level` opens the gate (from its first frame), a frame under `stop_level`
    closes it. Levels are RMS of float samples (full scale 1.0)."""

    def __init__(self, start_level: float = 0.02, stop_level: float = 0.01,
                 onset: int = 2) -> None:
        self.start_level, self.stop_level, self.onset = start_level, stop_level, onset
        self.open = False
        self._run: list[float] = []

    def reset(self) -> None:
        self.open, self._run = False, []

    def update(self, level: float, time: float) -> list[float]:
        """The times of the frames now known to be speech (usually none or `time`; the
        whole onset run when the gate opens)."""
        if self.open:
            if level >= self.stop_level:
                return [time]
            self.open = False
            return []
        if level < self.start_level:
            self._run = []
            return []
        self._run.append(time)
        if len(self._run) < self.onset:
            return []
        self.open, run, self._run = True, self._run, []
        return run
