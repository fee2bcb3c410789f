"""A token bucket: a steady rate, with bursts of a few seconds' worth."""

from __future__ import annotations


class Bucket:
    def __init__(self, rate: float, burst_s: float, now: float) -> None:
        self.rate = rate
        self.capacity = rate * burst_s
        self.level = self.capacity
        self.last = now

    def take(self, amount: float, now: float) -> bool:
        """Whether `amount` fits; it is taken either way, so a flood stays refused."""
        self.level = min(self.capacity, self.level + (now - self.last) * self.rate)
        self.last = now
        self.level -= amount
        return self.level >= 0
