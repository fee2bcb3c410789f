"""The jitter buffer between the network and the speaker: frames arrive when the server
and the network deliver them, the speaker takes one every 80 ms.

Frames are numbered (`seq`) in the order the server produced them. Each `pop` plays the
next one; the buffer keeps a few frames in hand (`target`) so that a frame arriving a
little late still arrives in time. The target adapts to the jitter seen: the spread of
the frames' arrival times against their place in the stream. The speaker never waits:

- the next frame missing, later ones there (reordered or lost): silence in its place,
  and the stream moves on; if it comes after all it is counted late and dropped;
- nothing there at all (the server or network stalled): silence, holding the place, until
  `target` frames are in hand again, so nothing the server said is skipped;
- more in hand than needed for a while (after a burst): one quiet frame is dropped, so
  the delay shrinks back without cutting a word; far too much, any frame is dropped;
- more than `limit` frames held (a server sending faster than anyone plays): the oldest
  are dropped as they come, so memory stays bounded whatever is sent."""

from __future__ import annotations

import collections
import math
import threading
from dataclasses import dataclass

import numpy as np

FRAME = 1920  # 80 ms at 24 kHz
FRAME_S = 0.08
SPARE_S = 4.0  # held beyond max_depth at most, for a burst after a stall


@dataclass
class JitterStats:
    depth: int  # frames in hand
    target: int  # frames it aims to keep in hand
    played: int  # frames of the server's audio played
    concealed: int  # silent frames played in place of a missing one (gaps, stalls)
    late: int  # frames that arrived after their turn had passed
    lost: int  # frames skipped that never arrived
    dropped: int  # frames left out to shorten the delay
    jitter_ms: float  # spread of arrival times seen lately

    @property
    def delay_ms(self) -> float:
        return self.depth * FRAME_S * 1000


class JitterBuffer:
    def __init__(self, min_depth: int = 2, max_depth: int = 6, window: int = 100,
                 trim_after: int = 12, quiet_rms: float = 0.01,
                 limit: int | None = None) -> None:
        self.min_depth, self.max_depth = min_depth, max_depth
        self.limit = limit or max_depth + round(SPARE_S / FRAME_S)  # frames held, at most
        self.trim_after = trim_after  # pops with too much in hand before trimming
        self.quiet_rms = quiet_rms
        self._lock = threading.Lock()  # put runs on the network thread, pop on the frame's
        self._offsets: collections.deque = collections.deque(maxlen=window)
        self.target = min_depth
        self.played = self.concealed = self.late = self.lost_late = self.dropped = 0
        self._holes: set[int] = set()  # concealed seqs that may still arrive (late)
        self._holes_total = self._lost_before = 0
        self.reset()

    def reset(self) -> None:
        """A new stream (a new connection): its numbers start again. The counters and
        the target stay; the arrival pattern is learnt afresh."""
        with self._lock:
            self._frames: dict[int, np.ndarray] = {}
            self._next: int | None = None  # the seq to play next; None before the first
            self._buffering = True  # waiting for `target` frames before playing
            self._started = False  # this stream has played a frame
            self._deep = 0  # pops in a row with more than needed in hand
            self._offsets.clear()
            self._lost_before = self.lost
            self._holes.clear()
            self._holes_total = self.lost_late = 0

    # -- the network's side --------------------------------------------------------------

    def put(self, seq: int, pcm: np.ndarray, now: float) -> None:
        """Frame `seq` arrived at `now` (seconds, any monotonic clock)."""
        with self._lock:
            if self._next is not None and seq < self._next:
                self.late += 1
                if seq in self._holes:
                    self._holes.discard(seq)
                    self.lost_late += 1
                return
            if seq in self._frames:
                return  # a duplicate
            self._frames[seq] = pcm
            self._offsets.append(now - seq * FRAME_S)
            self._adapt()
            while len(self._frames) > self.limit:
                self._drop_oldest()

    # -- the speaker's side --------------------------------------------------------------

    def pop(self) -> tuple[np.ndarray, int | None]:
        """The next 80 ms to play, and its seq (None for silence)."""
        with self._lock:
            if self._next is None:
                if not self._frames:
                    return _silence(), None
                self._next = min(self._frames)
            depth = self._depth()
            if self._buffering:
                if depth < self.target:
                    self.concealed += self._started  # a stall, not the stream's start
                    return _silence(), None
                self._buffering = False
            seq = self._next
            pcm = self._frames.pop(seq, None)
            if pcm is None:
                self.concealed += 1
                if depth == 0:  # stalled: hold the place until enough is in hand again
                    self._buffering = True
                else:  # a gap: move past it; it may still arrive, too late
                    self._holes.add(seq)
                    self._holes_total += 1
                    self._next += 1
                    self._forget_old_holes()
                return _silence(), None
            self._next += 1
            self.played += 1
            self._started = True
            self._trim()
            return pcm, seq

    # -- what it has seen ----------------------------------------------------------------

    @property
    def lost(self) -> int:
        return self._lost_before + self._holes_total - self.lost_late

    @property
    def position(self) -> int | None:
        """The seq the next pop plays (None before the stream starts)."""
        return self._next

    def stats(self) -> JitterStats:
        with self._lock:
            return JitterStats(self._depth(), self.target, self.played, self.concealed,
                               self.late, self.lost, self.dropped, 1000 * self._jitter())

    # -- inside (lock held) ----------------------------------------------------------------

    def _depth(self) -> int:
        """Frames in hand: from the next to play up to the newest that arrived."""
        if not self._frames:
            return 0
        start = self._next if self._next is not None else min(self._frames)
        return max(0, max(self._frames) - start + 1)

    def _jitter(self) -> float:
        if len(self._offsets) < 2:
            return 0.0
        offsets = np.fromiter(self._offsets, float)
        return float(np.percentile(offsets, 95) - offsets.min())

    def _adapt(self) -> None:
        # One frame to play plus enough to cover the spread of arrival times.
        need = 1 + math.ceil(self._jitter() / FRAME_S - 1e-6)
        self.target = min(self.max_depth, max(self.min_depth, need))

    def _trim(self) -> None:
        depth = self._depth()
        if depth <= self.target:
            self._deep = 0
            return
        self._deep += 1
        if depth > 2 * self.max_depth:  # far behind: catch up whatever is said
            self._drop_next()
        elif self._deep >= self.trim_after and depth > self.target + 1:
            pcm = self._frames.get(self._next)
            if pcm is not None and np.sqrt(np.mean(pcm ** 2)) < self.quiet_rms:
                self._drop_next()

    def _drop_next(self) -> None:
        if self._frames.pop(self._next, None) is not None:
            self.dropped += 1
        self._next += 1
        self._deep = 0

    def _drop_oldest(self) -> None:
        oldest = min(self._frames)
        del self._frames[oldest]
        self.dropped += 1
        if self._next is not None and self._next <= oldest:
            self._next = oldest + 1  # the stream goes on from what is still held

    def _forget_old_holes(self) -> None:
        if len(self._holes) > 200:  # a frame this far behind will never be played anyway
            self._holes = {s for s in self._holes if s > self._next - 100}


def _silence() -> np.ndarray:
    return np.zeros(FRAME, np.float32)
