"""A guard in front of aiohttp's websocket reader, which reads a whole frame before it
checks its size (one 1000 MB frame took the server to 3.9 GB). The guard reads only
frame heads: a data frame that announces more than the limit, or a fragment that takes
its message past it, is reported and its payload skipped, never buffered; so is every
later data frame. Control frames (a close, a ping) still go through.

It also counts every frame head (data, continuation and control alike): the session's
rate limits see whole messages only, and a message of endless empty fragments never
becomes one (442k frames/s took a core). Over `frames_per_s`, or over
`message_fragments` in one message, the connection is reported as flooding and nothing
more of it is read."""

from __future__ import annotations

import time
from typing import Callable

from .config import Limits
from .rate import Bucket


class FrameGuard:
    def __init__(self, reader, limit: int, too_big: Callable[[int], None]) -> None:
        self._reader = reader  # aiohttp's WebSocketReader
        self._limit = limit
        self._too_big = too_big
        self._head = bytearray()  # a frame head that has not fully arrived
        self._left = 0  # payload bytes of the current frame still to come
        self._passing = True  # whether the current frame goes to the reader
        self._message = 0  # payload bytes so far of a message sent in fragments
        self._tripped = False
        # Until the conversation sets them (watch): the defaults, and no one to tell.
        self._frames = Bucket(Limits.frames_per_s, Limits.burst_s, time.monotonic())
        self._max_fragments = Limits.message_fragments
        self._fragments = 0  # frames so far of the current data message
        self._flooded: Callable[[str], None] | None = None
        self.flood: str | None = None  # why the connection was cut off, once it was

    def watch(self, limits: Limits, flooded: Callable[[str], None]) -> None:
        """The conversation's limits, and where to report a flood (at once if one came
        before the conversation started)."""
        self._frames = Bucket(limits.frames_per_s, limits.burst_s, time.monotonic())
        self._max_fragments = limits.message_fragments
        self._flooded = flooded
        if self.flood is not None:
            flooded(self.flood)

    def feed_eof(self) -> None:
        self._reader.feed_eof()

    def feed_data(self, data: bytes):
        if self.flood is not None:  # dropped unparsed: a flood costs nothing more
            return False, b""
        out = []
        pos, end = 0, len(data)
        while pos < end:
            if self._left:
                step = min(self._left, end - pos)
                if self._passing:
                    out.append(data[pos:pos + step])
                self._left -= step
                pos += step
                continue
            pos, head = self._read_head(data, pos)
            if head is None:  # incomplete: the rest comes with the next data
                break
            if self._start_frame(head):
                out.append(head)
            elif self.flood is not None:
                break  # the frames before this one go through whole; nothing after
        if not out:
            return False, b""
        return self._reader.feed_data(out[0] if len(out) == 1 else b"".join(out))

    def _read_head(self, data: bytes, pos: int) -> tuple[int, bytes | None]:
        """Where the data goes on, and the frame's whole head once it has arrived."""
        head = self._head
        if len(head) < 2:
            take = min(2 - len(head), len(data) - pos)
            head += data[pos:pos + take]
            pos += take
            if len(head) < 2:
                return pos, None
        size = 2 + {126: 2, 127: 8}.get(head[1] & 0x7F, 0) + (4 if head[1] & 0x80 else 0)
        take = min(size - len(head), len(data) - pos)
        head += data[pos:pos + take]
        pos += take
        if len(head) < size:
            return pos, None
        whole = bytes(head)
        head.clear()
        return pos, whole

    def _start_frame(self, head: bytes) -> bool:
        """Whether the frame with this head goes through (its head with it)."""
        fin, opcode, n = head[0] & 0x80, head[0] & 0x0F, head[1] & 0x7F
        length = n if n < 126 else int.from_bytes(head[2:4] if n == 126 else head[2:10], "big")
        self._left = length
        if not self._frames.take(1, time.monotonic()):
            return self._flood(f"more than {self._frames.rate:g} websocket frames a second")
        if opcode >= 0x8:  # control frames are at most 125 bytes (aiohttp checks)
            self._passing = True
            return True
        self._fragments = 1 if opcode else self._fragments + 1
        if self._fragments > self._max_fragments:
            return self._flood(f"a message in more than {self._max_fragments} fragments")
        total = length + (self._message if opcode == 0x0 else 0)
        self._passing = not self._tripped and total <= self._limit
        if not self._passing and not self._tripped:
            self._tripped = True
            self._too_big(total)
        self._message = 0 if fin else total
        return self._passing

    def _flood(self, why: str) -> bool:
        self.flood = why
        if self._flooded is not None:
            self._flooded(why)
        return False
