"""A cached persona state starts a session exactly like a fresh prefill would."""

import torch

from arcus_desktop.core.persona import Persona
from arcus_desktop.engine.frame_loop import FrameLoop
from arcus_desktop.engine.generator import PersonaState, Sampling
from arcus_desktop.engine.persona_cache import PersonaCache

from ..conftest import AUDIO


def _user(seed, n):
    return torch.randint(0, 2048, (n, 8), generator=torch.Generator().manual_seed(seed))


def test_restored_state_gives_the_same_tokens_as_a_prefill(tiny_engine):
    prepared = tiny_engine.prepare(Persona(text="Hello there.", voice="NATF2"))
    user = _user(1, 20)
    with tiny_engine.generator(2, Sampling(greedy=True)) as gen:
        gen.start(0, prepared.plan)
        state = gen.snapshot(0)
        fresh = [gen.step(torch.stack([u, u])).frames[0].tolist() for u in user]
    with tiny_engine.generator(2, Sampling(greedy=True)) as gen:
        gen.start(0, prepared.plan)  # row 0 runs while row 1 is restored next to it
        for u in _user(2, 7):
            gen.step(torch.stack([u, u]))
        gen.restore(1, state)
        restored = [gen.step(torch.stack([u, u])).frames[1].tolist() for u in user]
    assert restored == fresh


def test_frame_loop_reuses_the_prefill_of_a_known_persona(tiny_engine):
    import sphn

    pcm = sphn.read(str(AUDIO / "input_service.wav"))[0][0, : 1920 * 15]
    tiny_engine.persona_states.clear()
    runs = []
    for _ in range(2):
        prepared = tiny_engine.prepare(Persona(text="You help with appliances.", voice="NATM1"))
        with FrameLoop(tiny_engine, prepared, Sampling(greedy=True)) as loop:
            runs.append((loop.persona_cached,
                         [loop.process(pcm[i * 1920:(i + 1) * 1920]).text_token for i in range(15)]))
    assert [cached for cached, _ in runs] == [False, True]
    assert runs[0][1] == runs[1][1]


def test_keys_follow_voice_and_text(tiny_engine, tmp_path):
    a = tiny_engine.prepare(Persona(text="One.", voice="NATF2")).key
    assert a == tiny_engine.prepare(Persona(text="One.", voice="NATF2")).key
    assert a != tiny_engine.prepare(Persona(text="Two.", voice="NATF2")).key
    assert a != tiny_engine.prepare(Persona(text="One.", voice="NATM1")).key


def test_cache_drops_least_recently_used_beyond_its_budget(tiny_engine):
    prepared = tiny_engine.prepare(Persona(text="Hello.", voice="NATF2"))
    with tiny_engine.generator(1) as gen:
        gen.start(0, prepared.plan)
        state = gen.snapshot(0)
    cache = PersonaCache(max_bytes=int(state.nbytes * 2.5))  # room for two
    cache.put("a", state)
    cache.put("b", state)
    assert cache.get("a") is state  # "a" is now the most recently used
    cache.put("c", state)
    assert len(cache) == 2 and cache.get("b") is None
    assert cache.get("a") is state and cache.get("c") is state
    huge = PersonaState([torch.zeros(2, 1, 10**6, 1)], state.cur, state.carry)
    cache.put("huge", huge)
    assert cache.get("huge") is None and len(cache) == 2  # larger than the budget: not kept


def test_warm_up_runs_a_silent_conversation_and_caches_nothing(tiny_engine):
    tiny_engine.persona_states.clear()
    tiny_engine.warm_up()
    assert len(tiny_engine.persona_states) == 0
