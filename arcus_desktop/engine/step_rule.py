"""When the batch steps, and how long each frame is told it waited: the lock-step rule of
engine/batch_loop.py with no clock, lock or model of its own (the caller passes the
times), so tests can run it with many clients in simulated time.

A step runs as soon as every running slot has a whole frame, or at its due time for
those that have one, or at once for a slot the last step left a frame behind. Due is
a period after a step that had every frame, plus a grace: clients that time their frames
to arrive together just before the step (remote/pacing.py) jitter, and the last of them
must not miss it by a hair and wait a whole period. After a step that went without
some, due keeps the period's grid, so the others keep real time.
"""

from __future__ import annotations

from typing import Protocol, Sequence

LATE_SLACK_S = 0.02  # a step this much later than it could have run counts as late
GRACE = 0.25  # of a period: how long a step that had every frame waits for a late one next
TOGETHER = 0.75  # of a period: frames whole within this of each other came as one group


class Waiting(Protocol):
    ready_since: float  # when its oldest waiting frame became whole (set to the step's
    # time for a frame left waiting by a step)


class StepRule:
    def __init__(self, period: float) -> None:
        self.period = period
        self.due = 0.0  # the next step runs by then for the slots that have a frame
        self.last = 0.0  # when the last step was taken
        self.free_since = 0.0  # when the loop last finished a piece of work (a step, a join)
        self.late = 0

    def behind(self, slot: Waiting) -> bool:
        """Left a whole frame by the last step: a frame behind the others for good (its
        frames come in real time, the steps too) unless it gets a step of its own. It gets
        one straight after that step, while the loop is free anyway; not when its next
        frame comes, just before the others' step, which then waits a whole step's time
        (every row costs the same) and goes without some of them."""
        return slot.ready_since <= self.last

    def together(self, now: float, ready: Sequence[Waiting], running: int) -> bool:
        """Every slot has a frame, and those frames came as one group. Frames spread
        round the period (clients not yet paced) step on the grid instead: stepping
        whenever the last of them came would move the step's phase every period, and
        no client could find it from its waits."""
        if len(ready) != running:
            return False
        fresh = [s.ready_since for s in ready if not self.behind(s)]
        return not fresh or now - min(fresh) <= self.period * TOGETHER

    def step_now(self, now: float, ready: Sequence[Waiting], running: int) -> bool:
        return bool(ready) and (now >= self.due or self.together(now, ready, running)
                                or any(self.behind(s) for s in ready))

    def take(self, now: float, ready: Sequence[Waiting], running: int) -> list[float]:
        """A step taken now with `ready`'s frames: each frame's wait to when the step could
        have run (its last frame whole, or due; not the loop busy or waking late), in ms.
        The caller then sets `ready_since = now` for slots that still have a frame."""
        due = self.due
        everyone = self.together(now, ready, running)
        oldest = min(s.ready_since for s in ready)
        if self.last and now - max(due, oldest) > LATE_SLACK_S:
            self.late += 1
        could = max(max(s.ready_since for s in ready) if everyone else due, self.free_since)
        waits = [max(0.0, could - s.ready_since) * 1e3 for s in ready]
        self.last = now
        if everyone:
            self.due = now + self.period * (1 + GRACE)
        elif now < due:  # early, for slots behind: the grid's step stays where it was
            pass
        else:  # on the grid, unless a period or more behind it
            self.due = due + self.period if due + self.period > now else now + self.period
        return waits
