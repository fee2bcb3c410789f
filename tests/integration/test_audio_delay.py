"""The live audio path keeps its delay down, through a real PulseAudio daemon: after a
stall, stale microphone audio is dropped and a long playback queue is shortened, and a
stream whose speaker starts late (the idle null sink, as in every test here) leaves no
backlog behind. The delay figures themselves are in bench/audio_latency.py."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from arcus_desktop.audio.duplex import FRAME, RATE, STALE_S, DuplexAudio
from arcus_desktop.audio.echo import OWN_DELAY_S, EchoCanceller

from ..pulse import feed, steady_sink
from ..supabase_stack import wait_until
from .test_audio_underrun import hold_the_gil



def _tone() -> np.ndarray:
    return (0.2 * np.sin(2 * np.pi * 300 * np.arange(RATE) / RATE)).astype(np.float32)


@pytest.fixture
def microphone(pulse):
    stop = threading.Event()
    feed(pulse, _tone(), stop, loop=True)
    yield pulse
    stop.set()


@pytest.fixture
def running_speaker(microphone):
    """The null sink kept running, as a sound card runs: on the idle one each xrun of a
    busy machine makes the speaker's stream wait ~1.9 s for the sink's next block."""
    with steady_sink():
        yield microphone


def _converse(audio: DuplexAudio, frames: int) -> None:
    """The engine's loop with a stand-in that answers each frame at once."""
    for _ in range(frames):
        frame = audio.read_frame(timeout=5.0)
        assert frame is not None
        audio.write_frame(frame)


def test_microphone_audio_left_waiting_by_a_stall_is_dropped(running_speaker):
    with DuplexAudio(echo=EchoCanceller()) as audio:
        _converse(audio, 10)
        # The engine stops answering (a slow frame, a busy computer): a second of the
        # microphone piles up behind it.
        wait_until(lambda: audio.stats.capture_queue_ms >= 1000, "a second of backlog")
        frame = audio.read_frame(timeout=5.0)
        after = audio.stats
    assert frame is not None
    assert after.stale_ms >= 1000 - 1000 * FRAME / RATE  # all but the newest frame went
    assert after.capture_queue_ms <= 1000 * STALE_S + 10  # what came while it was read


def test_a_playback_queue_left_long_is_shortened(running_speaker):
    with DuplexAudio() as audio:
        _converse(audio, 5)
        silence = np.zeros(FRAME, np.float32)
        for _ in range(12):  # a burst of replies, as after a stall on the speaker's side
            audio.write_frame(silence)
        assert audio.stats.playback_queue_ms >= 900
        for frames in range(60):  # within 4.8 s of conversation (busy machines included)
            _converse(audio, 1)
            if audio.stats.playback_queue_ms <= 200:  # one frame and what the speaker needs
                break
        stats = audio.stats
    assert stats.playback_queue_ms <= 200, stats
    assert stats.trimmed_ms >= 800


def test_a_speaker_that_starts_late_leaves_no_backlog(microphone):
    # The null sink is idle: the speaker's first block comes ~1.8 s late, while the
    # microphone already runs and replies pile up for it. (On the idle sink an xrun of a
    # busy machine stalls the speaker that long again: the least queue over the last
    # two seconds says whether a backlog stayed, the last one may be mid-stall.)
    queues = []
    with DuplexAudio(echo=EchoCanceller()) as audio:
        for _ in range(60):  # 4.8 s
            _converse(audio, 1)
            queues.append((audio.stats.playback_queue_ms, audio.stats.capture_queue_ms))
    assert min(p for p, _ in queues[-25:]) <= 200
    assert max(c for _, c in queues[-25:]) <= 1000 * STALE_S + 10


def test_the_delay_is_measured_on_the_devices_clock(running_speaker):
    with DuplexAudio(echo=EchoCanceller()) as audio:
        _converse(audio, 40)
        stats = audio.stats
    # At least the frame, the canceller's own block and a block each way; at most what
    # the devices say they hold plus a frame of queue.
    assert 80 + 9 < stats.added_delay_ms < 80 + 9 + stats.input_latency_ms + \
        stats.output_latency_ms + 80, stats


def test_the_canceller_is_on_the_path_only_while_the_assistant_sounds(running_speaker):
    # The user talks (the microphone's tone) and the assistant is silent: once the speaker
    # has played QUIET_S of silence, frames reach the engine without the canceller's 9.3
    # ms. A reply that sounds brings it back before any echo of it can be heard.
    silence = np.zeros(FRAME, np.float32)
    with DuplexAudio(echo=EchoCanceller()) as audio:
        for frames in range(75):  # 6 s at most, for a speaker that starts late
            assert audio.read_frame(timeout=5.0) is not None
            audio.write_frame(silence)
            if audio.echo.delay_s == 0:
                break
        assert audio.echo.delay_s == 0, "the speaker's silence never opened the direct path"
        loud = (0.3 * np.sin(2 * np.pi * 440 * np.arange(FRAME) / RATE)).astype(np.float32)
        for frames in range(75):
            assert audio.read_frame(timeout=5.0) is not None
            audio.write_frame(loud)
            if audio.echo.delay_s:
                break
        assert audio.echo.delay_s == OWN_DELAY_S


def test_a_machine_too_busy_for_the_speakers_small_queue_gets_a_larger_one(running_speaker):
    # The native speaker (the sound server's stream, written per reply) keeps a margin
    # queued; PortAudio's has small blocks: each grows when the speaker keeps running dry.
    notices = []
    with DuplexAudio(on_notice=notices.append) as audio:
        _converse(audio, 25)  # 2 s: past the start, where the speaker had nothing yet
        small = audio.speaker_block_s
        for _ in range(20):
            frame = audio.read_frame(timeout=5.0)
            # A reply 50 ms late (a slow step), or late callbacks: a machine whose cores
            # are all taken. Either way the speaker runs dry.
            hold_the_gil(0.05)
            audio.write_frame(frame)
            _converse(audio, 9)  # the queue that the late reply left is trimmed meanwhile
            if audio.speaker_block_s > small:
                break
        assert audio.speaker_block_s > small
        _converse(audio, 25)  # and the conversation goes on
    assert notices == [], [n.message for n in notices]
