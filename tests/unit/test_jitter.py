"""The jitter buffer on a simulated clock: frames arrive at given times (seconds), the
speaker pops one every 80 ms."""

from __future__ import annotations

import random

import numpy as np

from arcus_desktop.remote.jitter import FRAME, FRAME_S, JitterBuffer

LOUD, QUIET = 0.2, 0.001


def frame(level: float = LOUD) -> np.ndarray:
    return np.full(FRAME, level, np.float32)


def run(buffer: JitterBuffer, arrivals: dict[int, float], ticks: int,
        level=lambda seq: LOUD) -> list[int | None]:
    """Pop once per 80 ms tick, after putting every frame that arrived by then; the seqs
    played (None: silence)."""
    due = sorted(arrivals.items(), key=lambda a: a[1])
    played = []
    for tick in range(ticks):
        now = tick * FRAME_S
        while due and due[0][1] <= now:
            seq, at = due.pop(0)
            buffer.put(seq, frame(level(seq)), at)
        pcm, seq = buffer.pop()
        assert pcm.shape == (FRAME,) and (seq is None) == (not pcm.any())
        played.append(seq)
    return played


def steady(n: int, delay: float = 0.03) -> dict[int, float]:
    return {seq: seq * FRAME_S + delay for seq in range(n)}


def test_a_steady_stream_plays_every_frame_in_order_after_two_in_hand():
    buffer = JitterBuffer()
    played = run(buffer, steady(50), 52)
    assert played[:2] == [None, None]  # two frames in hand before the first plays
    assert played[2:] == list(range(50))
    s = buffer.stats()
    assert (s.played, s.concealed, s.late, s.lost, s.dropped) == (50, 0, 0, 0, 0)
    assert s.target == 2 and s.jitter_ms < 1


def test_reordered_frames_within_the_buffer_play_in_order():
    arrivals = steady(40)
    for a, b in ((5, 6), (12, 13), (20, 21)):  # each 80 ms late, in the 160 ms in hand
        arrivals[a], arrivals[b] = arrivals[b], arrivals[a]
    buffer = JitterBuffer()
    played = run(buffer, arrivals, 42)[2:]
    assert played == list(range(40))
    s = buffer.stats()
    assert (s.concealed, s.late, s.lost) == (0, 0, 0)


def test_a_lost_frame_is_silence_in_its_place_and_the_stream_goes_on():
    arrivals = steady(30)
    del arrivals[10]
    buffer = JitterBuffer()
    played = run(buffer, arrivals, 32)
    assert played[2:] == [*range(10), None, *range(11, 30)]  # same timing, a gap
    s = buffer.stats()
    assert (s.concealed, s.lost, s.late) == (1, 1, 0)


def test_a_frame_arriving_after_its_turn_is_counted_late_not_played():
    arrivals = steady(30)
    arrivals[10] = 20 * FRAME_S  # long after frames 11..19
    buffer = JitterBuffer(max_depth=2)  # keep the buffer from growing to cover it
    played = run(buffer, arrivals, 32)
    assert 10 not in played and played.count(None) == 3  # the start's two and the gap
    s = buffer.stats()
    assert (s.late, s.lost, s.concealed) == (1, 0, 1)


def test_a_stall_plays_silence_skips_nothing_and_the_delay_shrinks_again():
    # The server stalls for 0.5 s at frame 20, then delivers the backlog at once.
    arrivals = steady(120)
    for seq in range(20, 27):
        arrivals[seq] = 27 * FRAME_S + 0.03
    buffer = JitterBuffer()
    played = run(buffer, arrivals, 124, level=lambda seq: QUIET if seq >= 60 else LOUD)
    heard = [seq for seq in played if seq is not None]
    # Nothing the server said before the quiet part is skipped, in order, though late.
    assert heard[:60] == list(range(60))
    stall = played.index(20) - played.index(19) - 1
    assert stall >= 6  # silence while the server was silent
    s = buffer.stats()
    assert s.concealed == stall and s.late == 0 and s.lost == 0
    # It learnt the jitter: more frames in hand from then on ...
    assert s.target > 2
    # ... and once the talking stopped it dropped quiet frames to get the delay back down.
    assert s.dropped >= 1 and s.depth <= s.target + 1


def test_the_target_follows_the_jitter_within_its_bounds():
    rng = random.Random(1)
    buffer = JitterBuffer(window=50)
    jittery = {seq: seq * FRAME_S + rng.uniform(0, 0.25) for seq in range(100)}
    run(buffer, jittery, 100)
    assert 3 <= buffer.target <= 5  # 1 + ceil(0.25 s / 80 ms) at most
    calm_buffer = JitterBuffer(window=50)
    run(calm_buffer, {seq: seq * FRAME_S + 0.01 * (seq % 2) for seq in range(100)}, 100)
    assert calm_buffer.target == 2
    wild = JitterBuffer(window=50)
    run(wild, {seq: seq * FRAME_S + rng.uniform(0, 2.0) for seq in range(100)}, 100)
    assert wild.target == 6


def test_a_new_stream_starts_over_and_keeps_the_counts():
    buffer = JitterBuffer()
    arrivals = steady(20)
    del arrivals[5]
    run(buffer, arrivals, 22)
    buffer.reset()  # a reconnect: the server numbers from 0 again
    played = run(buffer, steady(20), 22)
    assert played[2:] == list(range(20))
    s = buffer.stats()
    assert s.lost == 1 and s.played == 39


def test_duplicates_and_silence_before_anything_arrived():
    buffer = JitterBuffer()
    pcm, seq = buffer.pop()
    assert seq is None and not pcm.any() and buffer.stats().concealed == 0
    for seq in (0, 0, 1, 1):
        buffer.put(seq, frame(), 0.0)
    assert [buffer.pop()[1] for _ in range(3)] == [0, 1, None]


def test_a_server_sending_far_faster_than_the_speaker_plays_cannot_fill_the_memory():
    # A hostile server's tiny Opus packets decode to seconds each: whatever comes, the
    # buffer holds a few seconds at most, dropping the oldest.
    buffer = JitterBuffer()
    for seq in range(5000):
        buffer.put(seq, frame(), 0.0)
    s = buffer.stats()
    assert s.depth <= 6 + 50 and s.depth == buffer.limit
    assert s.dropped == 5000 - buffer.limit
    assert buffer.pop()[1] == 5000 - buffer.limit  # the oldest held plays first
    # Mid-stream too: the next frame to play is the oldest still held.
    playing = JitterBuffer()
    run(playing, steady(10), 12)
    for seq in range(10, 1000):
        playing.put(seq, frame(), 1.0)
    assert playing.stats().depth == playing.limit
    assert playing.pop()[1] == 1000 - playing.limit
