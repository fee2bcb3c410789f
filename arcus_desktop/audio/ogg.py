"""Ogg pages out of an Ogg byte stream, one by one (RFC 3533).

Why: a reader built on sphn 0.1.x (the version NVIDIA's PersonaPlex fork pins, so their
web client and server) decodes one Ogg page per `append_bytes` call and keeps the rest
for later. sphn's OpusStreamWriter returns two pages per 80 ms frame (and the two
header pages first), so several pages in one websocket message leave such a reader
further behind with every message. Sending each page in a message of its own keeps it
in step.
"""

from __future__ import annotations

HEADER = 27  # "OggS", version, type, granule (8), serial (4), sequence (4), CRC (4), segments
MAX_PAGE = HEADER + 255 + 255 * 255  # the segment table's limits
MAGIC = b"OggS"


class PageSplitter:
    """Feed it the writer's bytes; it hands back whole pages, keeping a partial one until
    the rest comes. Bounded: a stream that is not Ogg raises ValueError at once."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def pages(self, data: bytes) -> list[bytes]:
        self._buf += data
        out = []
        while (size := _page_size(self._buf)) > 0:
            out.append(bytes(self._buf[:size]))
            del self._buf[:size]
        return out

    @property
    def pending(self) -> int:
        """Bytes of a page not yet complete."""
        return len(self._buf)


def _page_size(buf: bytearray) -> int:
    """The length of the whole page at the start of `buf`; 0 while it is incomplete."""
    if len(buf) >= 4 and buf[:4] != MAGIC:
        raise ValueError("not an Ogg page boundary")
    if len(buf) < HEADER:
        return 0
    segments = buf[HEADER - 1]
    if len(buf) < HEADER + segments:
        return 0
    size = HEADER + segments + sum(buf[HEADER:HEADER + segments])
    return size if len(buf) >= size else 0
