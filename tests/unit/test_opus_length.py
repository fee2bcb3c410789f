"""Audio in Ogg/Opus counted from the packets' TOC bytes (audio/opus_length.py), without
decoding: as sphn decodes it, and never lower for packets made to look small."""

import struct

import numpy as np
import sphn

from arcus_desktop.audio.ogg import PageSplitter
from arcus_desktop.audio.opus_length import MAX_PACKET, ogg_samples, packet_samples


def _page(packets: list[bytes], last_runs_on: bool = False) -> bytes:
    """An Ogg page (its CRC left 0: the count does not read it)."""
    lacing = bytearray()
    for p in packets:
        lacing += bytes([255] * (len(p) // 255) + [len(p) % 255])
    if last_runs_on:
        assert lacing[-1] == 0
        del lacing[-1]  # the last packet goes on in the next page
    head = struct.pack("<4sBBqIIIB", b"OggS", 0, 0, 0, 1, 2, 0, len(lacing))
    return head + bytes(lacing) + b"".join(packets)


def test_each_frame_count_code_and_frame_length():
    assert packet_samples(bytes([3 << 3, 0xAA])) == 2880  # SILK 60 ms, one frame
    assert packet_samples(bytes([(31 << 3) | 1])) == 1920  # CELT 20 ms, two (empty) frames
    assert packet_samples(bytes([(12 << 3) | 2, 1, 0xAA])) == 960  # hybrid 10 ms, two frames
    assert packet_samples(bytes([(16 << 3) | 3, 3])) == 360  # CELT 2.5 ms, three frames
    assert packet_samples(bytes([(16 << 3) | 3, 0x80 | 5, 0])) == 600  # VBR flag ignored
    assert packet_samples(bytes([(1 << 3) | 4 | 1])) == 1920  # stereo flag: same length


def test_what_cannot_be_read_counts_as_the_most_a_packet_holds():
    assert packet_samples(b"") == MAX_PACKET
    assert packet_samples(bytes([(16 << 3) | 3])) == MAX_PACKET  # its frame count missing
    assert packet_samples(bytes([(3 << 3) | 3, 48])) == MAX_PACKET  # 48 x 60 ms: invalid


def test_header_packets_hold_no_audio():
    assert packet_samples(b"OpusHead" + bytes(11)) == 0
    assert packet_samples(b"OpusTags" + bytes(8)) == 0


def test_a_writer_stream_counts_what_sphn_decodes():
    pcm = np.sin(np.arange(24000 * 2) / 20).astype(np.float32) * 0.3
    ogg = b"".join(sphn.OpusStreamWriter(24000).append_pcm(pcm[i:i + 1920])
                   for i in range(0, pcm.size, 1920))
    reader = sphn.OpusStreamReader(24000)
    decoded = sum(reader.append_bytes(p).size for p in PageSplitter().pages(ogg))
    assert ogg_samples(ogg) == 2 * decoded  # 48 kHz counted, 24 kHz decoded


def test_one_byte_packets_count_in_full():
    page = _page([bytes([(3 << 3) | 1])] * 41)  # 109 bytes
    assert len(page) == 109 and ogg_samples(page) == 41 * MAX_PACKET
    assert ogg_samples(page * 3) == 3 * 41 * MAX_PACKET


def test_a_partial_page_is_not_counted_and_a_packet_over_pages_is_counted_high():
    page = _page([bytes([(31 << 3)]) + bytes(99)] * 2)
    assert ogg_samples(page + page[:40]) == 2 * 960
    long = bytes([(31 << 3)]) + bytes(254) + bytes([3 << 3]) + bytes(45)  # 20 ms, two pages
    first = _page([long[:255]], last_runs_on=True)
    second = _page([long[255:]])
    assert ogg_samples(first) == 960
    assert ogg_samples(first + second) == 960 + 2880  # the rest's first byte read as a TOC
