"""The batch loop: conversations in one batch join, pause and leave without changing
what the others hear, and each hears what the single-conversation frame loop gives."""

import threading

import numpy as np
import pytest

from arcus_desktop.audio.files import read_mono
from arcus_desktop.core.persona import Persona
from arcus_desktop.engine import constants as C
from arcus_desktop.engine.batch_loop import BatchLoop, NoFreeSlot
from arcus_desktop.engine.frame_loop import FrameLoop
from arcus_desktop.engine.generator import Sampling

from ..conftest import AUDIO

GREEDY = Sampling(greedy=True)
WAIT_S = 60


class Sink:
    def __init__(self) -> None:
        self.frames = []
        self.info = None
        self.error = None
        self._cond = threading.Condition()

    def ready(self, info) -> None:
        with self._cond:
            self.info = info
            self._cond.notify_all()

    def frame(self, frame) -> None:
        with self._cond:
            self.frames.append(frame)
            self._cond.notify_all()

    def failed(self, error) -> None:
        with self._cond:
            self.error = error
            self._cond.notify_all()

    def wait(self, test) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: test(self), WAIT_S)

    def wait_frames(self, n: int) -> None:
        self.wait(lambda s: len(s.frames) >= n)


@pytest.fixture(scope="module")
def speech():
    pcm = read_mono(AUDIO / "input_service.wav", C.SAMPLE_RATE)
    return pcm[: 40 * C.FRAME_SIZE]


def _frames(pcm, start, stop):
    return pcm[start * C.FRAME_SIZE: stop * C.FRAME_SIZE]


def test_a_slot_hears_what_the_frame_loop_hears_whatever_its_neighbours_do(tiny_engine, speech):
    a = tiny_engine.prepare(Persona(text="Hello there.", voice="NATF2"))
    b = tiny_engine.prepare(Persona(text="Good morning to you.", voice="NATM1"))
    with FrameLoop(tiny_engine, a, GREEDY, cuda_graphs=False) as single:
        want = [single.process(_frames(speech, i, i + 1)) for i in range(40)]

    with BatchLoop(tiny_engine, 3, frame_period=0.002) as loop:
        sa, sb, sc = Sink(), Sink(), Sink()
        slot_a = loop.reserve()
        slot_a.start(a, GREEDY, sa)
        slot_a.push(_frames(speech, 0, 10))
        sa.wait_frames(10)
        # B joins (sampling, not greedy) and steps alone: A is masked for those ticks.
        slot_b = loop.reserve()
        slot_b.start(b, Sampling(), sb)
        slot_b.push(_frames(speech, 5, 10))
        sb.wait_frames(5)
        assert len(sa.frames) == 10
        # Both step; C joins in the middle; then B leaves while A goes on.
        slot_a.push(_frames(speech, 10, 25))
        slot_b.push(_frames(speech, 10, 30))
        sa.wait_frames(15)
        slot_c = loop.reserve()
        slot_c.start(b, GREEDY, sc)
        slot_c.push(_frames(speech, 0, 12))
        sb.wait_frames(25)
        slot_b.close()
        slot_a.push(_frames(speech, 25, 40))
        sa.wait_frames(40)
        sc.wait_frames(12)
        slot_c.close()
        slot_a.close()
        assert loop.wait_for(lambda lp: lp.sessions == 0, WAIT_S)
    got = sa.frames
    assert [f.index for f in got] == list(range(40))
    assert [f.text_token for f in got] == [w.text_token for w in want]
    assert max(float(np.abs(f.pcm - w.pcm).max()) for f, w in zip(got, want)) < 1e-4
    assert sc.info.persona_cached  # B's persona was prefilled once, then restored
    assert sa.error is sb.error is sc.error is None


def test_slots_run_out_and_come_back(tiny_engine):
    persona = tiny_engine.prepare(Persona(text="Hello.", voice="NATF0"))
    with BatchLoop(tiny_engine, 2) as loop:
        first, second = loop.reserve(), loop.reserve()
        with pytest.raises(NoFreeSlot):
            loop.reserve()
        assert loop.sessions == 2
        sink = Sink()
        first.start(persona, GREEDY, sink)
        sink.wait(lambda s: s.info is not None)
        first.close()
        second.close()
        assert loop.wait_for(lambda lp: lp.sessions == 0, WAIT_S)
        again = loop.reserve()
        assert again.row in (0, 1)


def test_a_failing_start_ends_only_that_conversation(tiny_engine, speech):
    good = tiny_engine.prepare(Persona(text="Hello.", voice="NATF0"))
    bad = tiny_engine.prepare(Persona(text="Hello.", voice="NATF2"))
    bad.plan = None  # breaks the prefill
    bad.key = ""
    with BatchLoop(tiny_engine, 2, frame_period=0.002) as loop:
        ok_sink, bad_sink = Sink(), Sink()
        ok = loop.reserve()
        ok.start(good, GREEDY, ok_sink)
        broken = loop.reserve()
        broken.start(bad, GREEDY, bad_sink)
        bad_sink.wait(lambda s: s.error is not None)
        ok.push(_frames(speech, 0, 5))
        ok_sink.wait_frames(5)
        assert loop.wait_for(lambda lp: lp.sessions == 1, WAIT_S)
        ok.close()
        assert loop.wait_for(lambda lp: lp.sessions == 0, WAIT_S)


def test_the_users_words_per_slot_match_the_frame_loop(tiny_stt_engine, speech):
    engine = tiny_stt_engine
    persona = engine.prepare(Persona(text="Hello there.", voice="NATF2"))
    with FrameLoop(engine, persona, GREEDY, cuda_graphs=False) as single:
        want = [single.process(_frames(speech, i, i + 1)).user_piece for i in range(20)]
    with BatchLoop(engine, 2, frame_period=0.002) as loop:
        other, sink = Sink(), Sink()
        noise = loop.reserve()
        noise.start(persona, Sampling(), other)
        noise.push(np.random.default_rng(0).uniform(-0.3, 0.3, 8 * C.FRAME_SIZE).astype(np.float32))
        other.wait_frames(8)  # its speech-to-text stream has moved on; the new one starts fresh
        slot = loop.reserve()
        slot.start(persona, GREEDY, sink)
        slot.push(_frames(speech, 0, 20))
        sink.wait_frames(20)
        noise.close()
        slot.close()
    assert [f.user_piece for f in sink.frames] == want


def test_a_slot_frames_behind_steps_without_waiting_for_the_grid(tiny_engine, speech):
    # On a period far longer than the test: a slot two frames behind (a burst, a late
    # start) must not wait for the next step on the grid, or it stays a period late
    # for good while its neighbour keeps the grid (seen on the H200: every frame waited
    # ~80 ms).
    persona = tiny_engine.prepare(Persona(text="Hello.", voice="NATF0"))
    with BatchLoop(tiny_engine, 2, frame_period=600.0) as loop:
        behind, idle = Sink(), Sink()
        slot, other = loop.reserve(), loop.reserve()
        other.start(persona, GREEDY, idle)
        idle.wait(lambda s: s.info is not None)
        slot.start(persona, GREEDY, behind)
        behind.wait(lambda s: s.info is not None)
        slot.push(_frames(speech, 0, 3))
        behind.wait_frames(2)  # the first on the grid, the second at once
        slot.close()
        other.close()
        assert loop.wait_for(lambda lp: lp.sessions == 0, WAIT_S)
    assert behind.error is None
