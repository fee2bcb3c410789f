"""Voice activity from the spectrum: each 10 ms block's speech-band bins against a noise
floor per bin that follows the room (minimum statistics), with hysteresis. Comparing bin
by bin makes a fan's rumble or a hiss equally harmless; speech lifts many bins at once."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

RATE = 24_000
BLOCK = RATE // 100  # 10 ms: onsets and offsets are found to this resolution
_BAND_HZ = (150.0, 6000.0)  # where speech has its energy


@dataclass
class VadConfig:
    on_db: float = 5.0  # mean lift of the band's bins over their floor that starts speech
    off_db: float = 3.0  # and that keeps it going
    min_db: float = -55.0  # band level (dBFS) below which nothing is speech
    on_blocks: int = 3  # consecutive loud blocks that start speech (a click is shorter)
    hang_blocks: int = 20  # quiet blocks that end it (the gaps inside words are shorter)
    floor_window_s: float = 2.0  # each bin's floor is its quietest in this long
    smooth: float = 0.7  # per-block smoothing of bin power (steadies the floor estimate)
    floor_bias: float = 2.0  # the minimum of a noisy bin sits below its mean


@dataclass
class Activity:
    """One frame's verdict. Times are seconds from the first frame."""

    active: bool  # speech in this frame (after hysteresis)
    start: float | None = None  # where speech began, if it began in this frame
    end: float | None = None  # where speech ended, if the hangover ran out in this frame
    last: float | None = None  # end of the last speech block in this frame, if any
    level_db: float = -120.0  # the frame's loudest speech-band block, dBFS


class VoiceActivity:
    """Feed frames in order; each call says whether there is speech and where it starts
    and stops within the frame. `guard_db` (one level per block, e.g. what the speaker
    played) raises the bar to that level minus `guard_margin_db`: an echo left over by
    the canceller is not the user speaking."""

    def __init__(self, config: VadConfig | None = None) -> None:
        self.config = config or VadConfig()
        freqs = np.fft.rfftfreq(BLOCK, 1.0 / RATE)
        self._band = (freqs >= _BAND_HZ[0]) & (freqs <= _BAND_HZ[1])
        window = np.hanning(BLOCK).astype(np.float32)
        self._window = window
        self._scale = 2.0 / (BLOCK * float(np.sum(window ** 2)))  # bins to mean square
        self._smoothed = None
        self._mins: deque[np.ndarray] = deque()  # per-bin minimum of each recent frame
        self._floor = None
        self.last_levels = np.zeros(0)  # the latest frame's block levels, dBFS
        self.speaking = False
        self._run = 0  # consecutive loud blocks (while silent) or quiet ones (speaking)
        self._run_start = 0.0
        self._last = 0.0  # end of the latest speech block
        self.time = 0.0

    def measure(self, pcm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per 10 ms block: speech-band level in dBFS, and mean lift over the floor in dB."""
        c = self.config
        blocks = np.asarray(pcm, np.float32).reshape(-1, BLOCK) * self._window
        spec = np.fft.rfft(blocks, axis=1)[:, self._band]
        power = (spec.real ** 2 + spec.imag ** 2) * self._scale + 1e-12
        levels = 10.0 * np.log10(power.sum(axis=1))
        smoothed = np.empty_like(power)
        s = power[0] if self._smoothed is None else self._smoothed
        for i, p in enumerate(power):
            s = c.smooth * s + (1.0 - c.smooth) * p
            smoothed[i] = s
        self._smoothed = s
        self._track_floor(smoothed.min(axis=0), len(blocks))
        lift = 10.0 * np.log10(np.maximum(smoothed / self._floor, 1.0)).mean(axis=1)
        return levels, lift

    def push(self, pcm: np.ndarray, guard_db: np.ndarray | None = None,
             guard_margin_db: float = 25.0) -> Activity:
        c = self.config
        if len(pcm) % BLOCK:
            raise ValueError(f"frames must be whole {BLOCK}-sample blocks")
        levels, lift = self.measure(pcm)
        self.last_levels = levels
        loud = levels >= c.min_db
        if guard_db is not None:
            loud &= levels >= np.asarray(guard_db) - guard_margin_db
        starts = loud & (lift >= c.on_db)
        keeps = loud & (lift >= c.off_db)
        t0, dt = self.time, BLOCK / RATE
        self.time += len(pcm) / RATE
        act = Activity(self.speaking, level_db=float(levels.max()))
        last = self._last
        for i in range(len(levels)):
            t = t0 + i * dt
            if not self.speaking:
                if starts[i]:
                    if self._run == 0:
                        self._run_start = t
                    self._run += 1
                    if self._run >= c.on_blocks:
                        self.speaking, self._run = True, 0
                        act.start = self._run_start
                        act.last = last = t + dt
                else:
                    self._run = 0
            elif keeps[i]:
                self._run = 0
                act.last = last = t + dt
            else:
                self._run += 1
                if self._run >= c.hang_blocks:
                    self.speaking, self._run = False, 0
                    act.end = last
            act.active = act.active or self.speaking
        self._last = last
        return act

    def _track_floor(self, frame_min: np.ndarray, blocks: int) -> None:
        """Each bin's floor is its quietest of the last few seconds: speech pauses within
        that long, a room's noise does not."""
        c = self.config
        self._mins.append(frame_min)
        keep = max(1, round(c.floor_window_s * 100 / blocks))
        while len(self._mins) > keep:
            self._mins.popleft()
        self._floor = np.min(self._mins, axis=0) * c.floor_bias
