"""When the remote engine sends each microphone frame to the team server.

Our server steps all its conversations together (engine/batch_loop.py): a step runs
once every conversation has a frame, or when it is due. A frame that arrives early
waits there for the others. Its `stats` event (every 2 s, PROTOCOL.md) says how long
this client's frames waited until their step could have run; the pacer moves this
client's send time later by most of that, so its frames arrive together with the
others' just before the step. The hold is what the wait was: the user hears the reply
no sooner (the microphone's frame is cut where it is cut), but frames no longer sit on
the server, and the steps keep one steady phase.

Only our server sends those figures: with NVIDIA's, or one without them, frames go
as soon as they are read, as before.
"""

from __future__ import annotations

from collections import deque

from .jitter import FRAME_S

MARGIN_MS = 2.0  # how early a frame aims to arrive before the step
DEAD_BAND_MS = 3.0  # a wait this close to the margin is left alone (no chasing noise)
LAST_MS = 0.5  # a median wait under this: the step mostly waited for this client
BACK_MS = 4.0  # how much sooner it then sends
GAIN = 0.7  # of the wait it moves by: overshooting costs a whole period, falling short
# a few milliseconds (the next report finishes the move)
SPREAD = 0.25  # of a period: a p10-to-median spread wider than this is the step's
# phase wandering, not a group's network jitter


class SendPacer:
    def __init__(self) -> None:
        self.hold_s = 0.0  # each frame's send time after it was read, under a period
        self.reports: deque[dict] = deque(maxlen=64)  # the server's stats events with waits
        self.held_ms: deque[float] = deque(maxlen=2000)  # what frames were actually held
        self.moves = 0

    def reset(self) -> None:
        """A new connection: a new conversation on the server, its steps' phase unknown."""
        self.hold_s = 0.0
        self.reports.clear()

    def send_at(self, handed: float) -> float:
        """When a frame read at `handed` (time.monotonic) should go."""
        return handed + self.hold_s

    def update(self, event: dict) -> None:
        """A `stats` event from the server; anything without the wait figures is ignored.

        Moves by a short wait (the 10th percentile): nine frames in ten waited at least
        that long, so moving by most of it keeps them ahead of the step, whatever the
        rest did (one late step in the 25 frames reaches the 99th percentile: judging
        the spread by it kept clients from ever moving). Not when the short wait is
        within the group's own spread: a frame in a group arriving together waits for the
        group's last by chance, however well placed it is; moving on such waits (or on
        the median) made every client chase whoever had moved last (simulated in
        tests/unit/test_pacing.py). A spread wider than a quarter period is no group's
        network jitter but the step's phase wandering (clients all round the period, the
        step at whoever came last), and then the short wait is still safe to move by.
        Earlier only a little, and only when the steps keep waiting for its own held
        frame."""
        try:
            short = float(event["wait_ms_p10"])
            p50, p99 = float(event["wait_ms_p50"]), float(event["wait_ms_p99"])
            backlog = int(event.get("backlog_frames", 0))
            period = float(event.get("frame_period_ms", FRAME_S * 1e3)) / 1e3
        except (KeyError, TypeError, ValueError, OverflowError):  # 1e999 is inf in JSON
            return
        if not 0.0 <= short <= p50 <= p99 < 10_000 or not 0.0 < period <= 1.0:
            return
        self.reports.append(event)
        if backlog > 1 or short >= period * 1e3:
            return  # audio piles up there: the waits say nothing about the phase
        if p50 < LAST_MS and self.hold_s > 0:
            # Most steps waited for this client's frame, which it held: it holds back
            # everyone's step. Send a little sooner.
            self.hold_s = max(0.0, self.hold_s - BACK_MS / 1e3)
            self.moves += 1
            return
        if short <= MARGIN_MS + DEAD_BAND_MS:
            return  # in place
        # Wandering: spread too wide for a group's jitter, and a short wait no group's
        # jitter gives (its 10th percentile is a tenth of it: this would be a period).
        wandering = p50 - short > period * 1e3 * SPREAD and short > period * 1e3 * SPREAD / 2
        if not wandering and short - (p50 - short) <= MARGIN_MS + DEAD_BAND_MS:
            return  # in the group: its waits are the others' jitter
        # Modulo the server's period (the microphone's 80 ms with `serve`): the phase.
        self.hold_s = (self.hold_s + GAIN * (short - MARGIN_MS) / 1e3) % period
        self.moves += 1
