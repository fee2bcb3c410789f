"""audio/ogg.py: whole Ogg pages out of an Opus writer's bytes, however they are cut."""

import numpy as np
import pytest
import sphn

from arcus_desktop.audio.ogg import PageSplitter


def _stream(frames: int) -> list[bytes]:
    writer = sphn.OpusStreamWriter(24000)
    rng = np.random.default_rng(0)
    return [writer.append_pcm((0.1 * rng.standard_normal(1920)).astype(np.float32))
            for _ in range(frames)]


def test_the_writers_bytes_become_whole_pages_that_decode_alike():
    chunks = _stream(10)
    splitter = PageSplitter()
    pages = [p for chunk in chunks for p in splitter.pages(chunk)]
    assert b"".join(pages) == b"".join(chunks) and splitter.pending == 0
    assert all(p[:4] == b"OggS" for p in pages)
    assert b"OpusHead" in pages[0] and b"OpusTags" in pages[1]
    assert len(pages) > len(chunks)  # the writer gives several pages per call
    reader = sphn.OpusStreamReader(24000)
    assert sum(reader.append_bytes(p).size for p in pages) == 10 * 1920


def test_a_page_cut_anywhere_waits_for_its_rest():
    data = b"".join(_stream(3))
    splitter = PageSplitter()
    pages = []
    for i in range(0, len(data), 7):  # cut mid-header and mid-body
        pages += splitter.pages(data[i:i + 7])
    assert b"".join(pages) == data and splitter.pending == 0
    assert splitter.pages(data[:30]) == [] and splitter.pending == 30


def test_bytes_that_are_not_ogg_are_refused():
    with pytest.raises(ValueError):
        PageSplitter().pages(b"RIFF....WAVEfmt ")
