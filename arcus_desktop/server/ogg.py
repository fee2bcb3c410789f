"""Cuts the client's Ogg bytes at page ends, so that each piece given to the decoder
completes at most one page: sphn refuses to decode more than about 5 s in one call,
and the protocol lets a client put any amount of audio in one message."""

from __future__ import annotations

HEAD = 27  # an Ogg page head before its segment table


class PageSplitter:
    def __init__(self) -> None:
        self._head = bytearray()  # a page head (and segment table) still arriving
        self._left = 0  # body bytes of the current page still to come

    def split(self, data: bytes) -> list[bytes]:
        """`data` in pieces that each end where a page ends (the last one may not).
        Raises ValueError where a page should begin and does not."""
        pieces, start, pos, end = [], 0, 0, len(data)
        while pos < end:
            if self._left:
                step = min(self._left, end - pos)
                self._left -= step
                pos += step
            else:
                head = self._head
                need = HEAD if len(head) < HEAD else HEAD + head[HEAD - 1]
                take = min(need - len(head), end - pos)
                head += data[pos:pos + take]
                pos += take
                if head[:4] != b"OggS"[:len(head)]:
                    raise ValueError("not an Ogg page")
                if len(head) < HEAD or len(head) < HEAD + head[HEAD - 1]:
                    continue
                self._left = sum(head[HEAD:])
                head.clear()
            if not self._left and not self._head:
                pieces.append(data[start:pos])
                start = pos
        if start < end:
            pieces.append(data[start:end])
        return pieces
