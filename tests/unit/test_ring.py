import threading

import numpy as np

from arcus_desktop.audio.ring import Ring


def test_wraps_and_keeps_order():
    ring = Ring(10)
    ring.write(np.arange(7, dtype=np.float32))
    assert list(ring.read(5)) == [0, 1, 2, 3, 4]
    ring.write(np.arange(7, 14, dtype=np.float32))  # wraps around the end
    assert list(ring.read(9)) == list(range(5, 14))
    assert ring.overruns == ring.underruns == 0


def test_full_ring_drops_and_counts_empty_ring_pads_and_counts():
    ring = Ring(4)
    assert ring.write(np.ones(6, np.float32)) == 4 and ring.overruns == 2
    out = np.full(6, 9.0, np.float32)
    assert ring.read_into(out) == 4
    assert list(out) == [1, 1, 1, 1, 0, 0] and ring.underruns == 2


def test_a_reader_waits_for_a_writer_thread():
    ring = Ring(100)
    started = threading.Event()

    def writer():
        started.wait()
        for _ in range(5):
            ring.write(np.ones(10, np.float32))

    t = threading.Thread(target=writer)
    t.start()
    assert not ring.wait_for(50, timeout=0.01)  # nothing written yet
    started.set()
    assert ring.wait_for(50, timeout=10)
    t.join()
    assert ring.available() == 50
