"""The echo canceller's reference tape and the clock that finds a time on it."""

from types import SimpleNamespace

import numpy as np

from arcus_desktop.audio.clock import Clock
from arcus_desktop.audio.tape import Tape


def test_the_tape_gives_back_what_was_written_by_position():
    tape = Tape(100)
    data = np.arange(250, dtype=np.float32)
    for start in range(0, 250, 30):  # writes that wrap around the buffer
        tape.write(data[start:start + 30])
    assert tape.total == 250
    assert np.array_equal(tape.read_at(180, 50), data[180:230])
    assert np.array_equal(tape.read_at(190, 20), data[190:210])  # across the wrap
    # Older than it keeps, or not written yet: silence.
    assert np.array_equal(tape.read_at(100, 60), np.concatenate([np.zeros(50), data[150:160]]))
    assert np.array_equal(tape.read_at(240, 20), np.concatenate([data[240:250], np.zeros(10)]))


def test_a_write_longer_than_the_tape_keeps_the_newest():
    tape = Tape(10)
    tape.write(np.arange(25, dtype=np.float32))
    assert tape.total == 25
    assert np.array_equal(tape.read_at(15, 10), np.arange(15, 25))


def test_the_clock_lines_the_microphone_up_with_the_speaker_despite_noisy_stamps():
    clock = Clock(24_000, 48_000)
    rng = np.random.default_rng(0)
    for k in range(60):  # a block every 10 ms; stamps off by up to a block, now and then
        t = 5.0 + k * 0.01
        late = 0.01 if rng.random() < 0.3 else 0.0
        streams = SimpleNamespace(in_stamp=(k * 240, t - 0.02 + late),
                                  out_stamp=(k * 480, t + 0.02))
        clock.note(streams)
    # Microphone sample 0 was heard at 4.98 s; the speaker sample sounding then is the
    # one given 40 ms before speaker sample 0 sounded: index -1920 at 48 kHz.
    assert abs(clock.heard_at(0) - 4.98) < 1e-6
    assert abs(clock.played_index(clock.heard_at(0)) + 1920) < 1e-3
    assert abs(clock.played_at(480) - 5.03) < 1e-6


def test_the_echo_alignment_holds_still_and_moves_only_for_a_lasting_change():
    clock = Clock(24_000, 24_000)

    def note(k, shift=0.0):
        t = 5.0 + k * 0.01
        jitter = 0.01 if k % 3 == 0 else 0.0  # one stamp in three a block late
        clock.note(SimpleNamespace(in_stamp=(k * 240, t - 0.02 + jitter),
                                   out_stamp=(k * 240, t + 0.02 + shift)))

    for k in range(40):
        note(k)
    locked = clock.tape_index(0)
    assert abs(locked + 960) < 1  # 40 ms: the speaker's sample that sounded then
    for k in range(40, 60):  # a short disagreement: held
        note(k, shift=0.15)
    assert clock.tape_index(0) == locked
    for k in range(60, 140):  # the speaker was reopened 150 ms later, for good: moved
        note(k, shift=0.15)
    assert abs(clock.tape_index(0) - (locked - 3600)) < 1


def test_the_echo_alignment_does_not_follow_stamps_that_wander_by_tens_of_ms():
    # Through ALSA's pulse plugin the stamps' offset wandered by 20-40 ms for seconds
    # while the real echo delay held still; following it put the reference behind the echo.
    clock = Clock(24_000, 24_000)
    for k in range(300):
        t = 5.0 + k * 0.01
        wander = 0.03 * np.sin(k / 40)  # up to 30 ms, for seconds at a time
        clock.note(SimpleNamespace(in_stamp=(k * 240, t - 0.02),
                                   out_stamp=(k * 240, t + 0.02 + wander)))
        if k == 20:
            locked = clock.tape_index(0)
    assert clock.tape_index(0) == locked
