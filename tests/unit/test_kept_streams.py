"""A conversation in the kept streams of the last one (frame_loop.py's keep_warm) is the
conversation a fresh loop would have held, and anything else that needs the codec or
the model's streams gets them."""

import numpy as np
import pytest
import torch

from arcus_desktop.audio import files as audio_files
from arcus_desktop.core.persona import Persona
from arcus_desktop.engine import constants as C
from arcus_desktop.engine.frame_loop import FrameLoop
from arcus_desktop.engine.generator import Sampling

from ..conftest import AUDIO

FRAMES = 20


@pytest.fixture(scope="module")
def speech():
    return audio_files.read_mono(AUDIO / "input_service.wav", C.SAMPLE_RATE)[: 2 * FRAMES * C.FRAME_SIZE]


def _talk(engine, persona, pcm, sampling, keep_warm, seed=5):
    torch.manual_seed(seed)
    with FrameLoop(engine, engine.prepare(persona), sampling, keep_warm=keep_warm) as loop:
        results = [loop.process(pcm[i * C.FRAME_SIZE:(i + 1) * C.FRAME_SIZE]) for i in range(FRAMES)]
        results += loop.flush_user()
        reused = loop.reused_streams
    return reused, results


@pytest.mark.parametrize("which", ["tiny_engine", "tiny_stt_engine"])
@pytest.mark.parametrize("sampling", [Sampling(greedy=True), Sampling()], ids=["greedy", "sampled"])
def test_a_conversation_in_kept_streams_is_the_one_fresh_streams_give(request, which, sampling, speech):
    engine = request.getfixturevalue(which)
    first = Persona(text="You sell appliances.", voice="NATM1")
    second = Persona(text="You are a calm helper.", voice="NATF2")
    try:
        # The first conversation hears other audio, so the kept state is not a fresh one.
        reused, _ = _talk(engine, first, speech[FRAMES * C.FRAME_SIZE:], sampling, keep_warm=True)
        assert not reused
        reused, kept = _talk(engine, second, speech, sampling, keep_warm=True)
        assert reused
    finally:
        engine.release_loop()
    reused, fresh = _talk(engine, second, speech, sampling, keep_warm=False)
    assert not reused
    assert [r.text_token for r in kept] == [r.text_token for r in fresh]
    assert [r.user_token for r in kept] == [r.user_token for r in fresh]
    for a, b in zip(kept, fresh):
        assert np.array_equal(a.pcm, b.pcm)
    assert engine.mimi.num_codebooks == C.NUM_CODEBOOKS


def test_other_settings_and_other_uses_get_their_own_streams(tiny_engine, speech, tmp_path):
    import sphn

    persona = Persona(text="Hello.", voice="NATF2")
    try:
        _talk(tiny_engine, persona, speech, Sampling(), keep_warm=True)
        reused, _ = _talk(tiny_engine, persona, speech, Sampling(greedy=True), keep_warm=True)
        assert not reused  # the graph bakes in the sampling settings
        # The model's own streams for someone else (a preview, a bench): no "already
        # streaming" from moshi.
        with tiny_engine.generator(1, Sampling(greedy=True)) as gen:
            gen.start(0, tiny_engine.prepare(persona).plan)
        reused, _ = _talk(tiny_engine, persona, speech, Sampling(greedy=True), keep_warm=True)
        assert not reused
        # An own-voice recording is encoded by the codec from a fresh state, as without
        # kept streams.
        wav = tmp_path / "me.wav"
        sphn.write_wav(str(wav), speech[None, : 3 * C.SAMPLE_RATE], C.SAMPLE_RATE)
        own = tiny_engine.prepare(Persona(text="Hello.", voice_file=str(wav)))
    finally:
        tiny_engine.release_loop()
    for cached in (tiny_engine.cache_dir / "voices").glob("*.pt"):
        cached.unlink()  # encode again, now with no streams kept
    again = tiny_engine.prepare(Persona(text="Hello.", voice_file=str(wav)))
    assert own.key == again.key
    assert torch.equal(own.plan.columns, again.plan.columns)


def test_warm_up_leaves_its_streams_for_the_first_conversation(tiny_engine, speech):
    try:
        tiny_engine.warm_up(sampling=Sampling(), keep=True)
        reused, results = _talk(tiny_engine, Persona(text="Hi.", voice="NATM1"), speech, Sampling(),
                                keep_warm=True)
        assert reused and len(results) == FRAMES
    finally:
        tiny_engine.release_loop()
