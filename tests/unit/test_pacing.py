"""remote/pacing.py: each client moves its send time until its frames reach the server
just before the shared step, from the waits the server reports.

The server here is a model, not ours: a few lines of the step rule docs/PROTOCOL.md
("Timing") gives, in simulated time, so that 8 and 32 clients at random microphone
phases with network jitter run for a minute in a fraction of a second, the same every
run. tests/integration/test_remote_pacing.py runs the real server."""

import heapq

import numpy as np
import pytest

from arcus_desktop.remote.pacing import BACK_MS, GAIN, MARGIN_MS, SendPacer

PERIOD = 0.08
GRACE = 0.02
STATS_EVERY = 25


def simulate(clients: int, seconds: float, pace: bool, jitter_s: float, seed: int = 1,
             late_s: float = 0.0):
    """Waits for the step (ms) and read-to-step times (ms) over the second half. Network
    jitter up to `jitter_s` (uniform); each step starts late by a random delay of mean
    `late_s` (exponential), as a busy server's thread wakes late."""
    rng = np.random.default_rng(seed)
    pacers = [SendPacer() for _ in range(clients)]
    events, order = [], [0]

    def at(t, *what):
        order[0] += 1
        heapq.heappush(events, (t, order[0], *what))

    for k, phase in enumerate(rng.uniform(0, PERIOD, clients)):
        at(phase, "read", k, 0)
    held = [None] * clients
    reads = [[] for _ in range(clients)]  # read times of the frames on their way or waiting
    waiting = [0] * clients
    ready_since = [0.0] * clients
    recent = [[] for _ in range(clients)]
    due = 0.0
    waits, delays = [], []

    def step(could):  # the step's frames are taken now; the server reports waits to now
        nonlocal due
        everyone = all(waiting)
        t = could + (rng.exponential(late_s) if late_s else 0.0)
        for k in range(clients):
            if not waiting[k]:
                continue
            if t > seconds / 2:  # the whole wait, as the benches measure it
                waits.append((t - ready_since[k]) * 1e3)
                delays.append((t - reads[k][0]) * 1e3)
            recent[k].append(max(0.0, could - ready_since[k]) * 1e3)  # as reported
            waiting[k] -= 1
            ready_since[k] = t
            reads[k].pop(0)
            if len(recent[k]) == STATS_EVERY and pace:
                r = sorted(recent[k])
                pacers[k].update({"type": "stats", "wait_ms_p10": r[2], "wait_ms_p50": r[12],
                                  "wait_ms_p99": r[-1], "backlog_frames": waiting[k]})
            if len(recent[k]) == STATS_EVERY:
                recent[k] = []
        due = t + PERIOD + GRACE if everyone else (
            due + PERIOD if due + PERIOD > t else t + PERIOD)
        at(due, "due", -1, 0)

    def arrive(k, t):
        at(t + 0.001 + rng.uniform(0, jitter_s), "arrive", k, 0)

    while events:
        t, _, kind, k, frame = heapq.heappop(events)
        if t > seconds:
            break
        if kind == "read":  # the microphone's frame, handed to the client
            if held[k] is not None:  # never more than one held: the older goes now
                arrive(k, t)
            held[k] = frame
            reads[k].append(t)
            at(max(t, pacers[k].send_at(t)), "send", k, frame)
            at(t + PERIOD, "read", k, frame + 1)
        elif kind == "send" and held[k] == frame:
            held[k] = None
            arrive(k, t)
        elif kind == "arrive":
            if waiting[k] == 0:
                ready_since[k] = t
            waiting[k] += 1
            if all(waiting) or t >= due:
                step(t)
        elif kind == "due" and any(waiting) and t >= due:
            step(t)
    return np.array(waits), np.array(delays), pacers


@pytest.mark.parametrize("clients", [8, 32])
def test_frames_come_to_wait_only_briefly_for_the_step_and_no_later_for_the_user(clients):
    before, late_before, _ = simulate(clients, 60, pace=False, jitter_s=0.01)
    after, late_after, pacers = simulate(clients, 60, pace=True, jitter_s=0.01)
    assert np.median(before) > 25  # at random phases a frame waits about half a period
    assert np.median(after) < 10
    # The hold replaces the wait: the step comes no later after the microphone's frame.
    assert np.median(late_after) < np.median(late_before) + 5
    assert all(0 <= p.hold_s < PERIOD for p in pacers)
    assert max(p.moves for p in pacers) <= 6  # it settles, it does not chase


@pytest.mark.parametrize("clients", [8, 32])
def test_uneven_networks_and_a_late_server_do_not_set_it_chasing(clients):
    # 20 ms of network jitter and steps that start 5 ms late on average: the group's
    # last frame comes late by chance, so every other frame waits for it; a pacer that
    # took that for being early would move later and later, and the user with it.
    _, late_before, _ = simulate(clients, 60, pace=False, jitter_s=0.02, late_s=0.005)
    _, late_after, pacers = simulate(clients, 60, pace=True, jitter_s=0.02, late_s=0.005)
    assert np.median(late_after) < np.median(late_before) + 10
    assert max(p.moves for p in pacers) <= 6


def test_without_the_servers_figures_frames_go_at_once():
    pacer = SendPacer()
    for event in ({"type": "stats", "frame_ms_p50": 3.0}, {"type": "stats", "wait_ms_p10": "x",
                  "wait_ms_p50": 1, "wait_ms_p99": 2}, {"type": "stats", "wait_ms_p10": 50,
                  "wait_ms_p50": 40, "wait_ms_p99": 60}):  # NVIDIA's, garbled, inconsistent
        pacer.update(event)
    assert pacer.send_at(10.0) == 10.0 and pacer.moves == 0


def test_it_moves_by_a_short_wait_and_not_while_audio_piles_up():
    pacer = SendPacer()
    pacer.update({"wait_ms_p10": 30.0, "wait_ms_p50": 35.0, "wait_ms_p99": 40.0,
                  "backlog_frames": 3})
    assert pacer.hold_s == 0.0  # behind: the waits are not about the phase
    pacer.update({"wait_ms_p10": 30.0, "wait_ms_p50": 35.0, "wait_ms_p99": 40.0})
    assert pacer.hold_s == pytest.approx(GAIN * (30.0 - MARGIN_MS) / 1e3)
    pacer.update({"wait_ms_p10": 10.0, "wait_ms_p50": 20.0, "wait_ms_p99": 30.0})
    assert pacer.hold_s == pytest.approx(GAIN * (30.0 - MARGIN_MS) / 1e3)  # others' jitter: stays
    pacer.update({"wait_ms_p10": 30.0, "wait_ms_p50": 35.0, "wait_ms_p99": 75.0})
    assert pacer.hold_s == pytest.approx(GAIN * (30.0 - MARGIN_MS) / 1e3)  # too uneven: stays
    pacer.update({"wait_ms_p10": 0.5, "wait_ms_p50": 6.0, "wait_ms_p99": 20.0})
    assert pacer.hold_s == pytest.approx(GAIN * (30.0 - MARGIN_MS) / 1e3)  # in place: stays
    pacer.update({"wait_ms_p10": 70.0, "wait_ms_p50": 71.0, "wait_ms_p99": 72.0})
    assert 0 <= pacer.hold_s < PERIOD  # never a frame or more
    pacer.reset()
    assert pacer.hold_s == 0.0


def test_a_client_the_step_keeps_waiting_for_sends_sooner():
    pacer = SendPacer()
    pacer.update({"wait_ms_p10": 40.0, "wait_ms_p50": 42.0, "wait_ms_p99": 45.0})
    held = pacer.hold_s
    pacer.update({"wait_ms_p10": 0.0, "wait_ms_p50": 0.0, "wait_ms_p99": 3.0})
    assert pacer.hold_s == pytest.approx(held - BACK_MS / 1e3)  # it overshot: back a little
    fresh = SendPacer()
    fresh.update({"wait_ms_p10": 0.0, "wait_ms_p50": 0.0, "wait_ms_p99": 3.0})
    assert fresh.hold_s == 0.0  # the last by its own microphone: nothing to give back
