"""Events leave the engine process on their own thread, so the frame loop never waits
for the app. Levels for the waveform are droppable: when the app falls behind only the
newest few are kept. Everything else (text, turns, stats, states, errors) is kept, in
order, and flushed before the process ends."""

from __future__ import annotations

import collections
import threading

KEEP_LEVELS = 16  # 1.3 s of waveform


class EventSender:
    def __init__(self, connection, keep_levels: int = KEEP_LEVELS) -> None:
        self._connection = connection
        self._events: collections.deque = collections.deque()
        self._levels: collections.deque = collections.deque(maxlen=keep_levels)
        self._ready = threading.Condition()
        self._closing = False
        self.dropped_levels = 0
        self.broken = False  # the app's end is gone: nothing more can be told
        self._thread = threading.Thread(target=self._run, name="engine-events", daemon=True)
        self._thread.start()

    def send(self, event) -> None:
        with self._ready:
            self._events.append(event)
            self._ready.notify()

    def send_levels(self, event) -> None:
        with self._ready:
            if len(self._levels) == self._levels.maxlen:
                self.dropped_levels += 1
            self._levels.append(event)
            self._ready.notify()

    def close(self, timeout: float = 5.0) -> None:
        """Send what is waiting (levels excepted), then stop."""
        with self._ready:
            self._closing = True
            self._levels.clear()
            self._ready.notify()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._events and not self._levels and not self._closing:
                    self._ready.wait()
                if self._events:
                    event = self._events.popleft()
                elif self._levels:
                    event = self._levels.popleft()
                else:
                    return  # closing and nothing left
            try:
                self._connection.send(event)
            except (BrokenPipeError, EOFError, OSError):
                self.broken = True
                return
