"""How much audio Ogg/Opus bytes hold, read from each packet's first (TOC) byte without
decoding (RFC 6716, section 3.1).

Why: a one-byte Opus packet may stand for 120 ms of audio, so 64 KiB of Ogg can decode
to most of an hour. Counting first lets a server refuse such bytes before they are
decoded. Counts are in samples at 48 kHz, Opus's own clock.
"""

from __future__ import annotations

from .ogg import HEADER, MAGIC

RATE = 48000
MAX_PACKET = 5760  # 120 ms: the most one valid packet holds (RFC 6716, 3.2.5)
# Frame length by configuration (TOC bits 7-3): SILK 10/20/40/60 ms, hybrid 10/20 ms,
# CELT 2.5/5/10/20 ms.
_FRAME = ([480, 960, 1920, 2880] * 3 + [480, 960] * 2 + [120, 240, 480, 960] * 4)
_HEADS = (b"OpusHead", b"OpusTags")  # the stream's header packets: no audio


def packet_samples(packet: bytes) -> int:
    """The audio in one Opus packet. One that cannot be read (empty, or its frame count
    missing) counts as the most a packet may hold: it is never counted low."""
    if packet.startswith(_HEADS):
        return 0
    if not packet:
        return MAX_PACKET
    toc = packet[0]
    code = toc & 3
    if code == 0:
        frames = 1
    elif code in (1, 2):
        frames = 2
    elif len(packet) < 2:
        return MAX_PACKET
    else:
        frames = packet[1] & 0x3F
    # Beyond 120 ms the packet is invalid and the decoder refuses it.
    return min(frames * _FRAME[toc >> 3], MAX_PACKET)


def ogg_samples(data: bytes) -> int:
    """The audio in the whole Ogg pages at the start of `data` (a trailing part of a page
    is not counted). Every packet that begins on a page counts, and so does the piece
    that continues one from an earlier page: that can only count high."""
    total, pos = 0, 0
    while len(data) - pos >= HEADER and data[pos:pos + 4] == MAGIC:
        segments = data[pos + HEADER - 1]
        lacing = data[pos + HEADER:pos + HEADER + segments]
        if len(lacing) < segments:
            break
        body = pos + HEADER + segments
        if len(data) < body + sum(lacing):
            break
        start = end = body
        for i, size in enumerate(lacing):
            end += size
            if size < 255 or i == segments - 1:  # a packet ends here, or runs on
                total += packet_samples(data[start:end])
                start = end
        pos = end
    return total
