"""Sessions in one batch are independent: starting, stepping and stopping one never
changes what another produces."""

import pytest
import torch

from arcus_desktop.core.persona import Persona
from arcus_desktop.engine import checkpoint, generator, model
from arcus_desktop.engine.generator import Generator, Sampling


def _user(seed: int, n: int) -> torch.Tensor:
    return torch.randint(0, 2048, (n, 8), generator=torch.Generator().manual_seed(seed))


def _alone(lm, plan, user, lean=True):
    with Generator(lm, 1, Sampling(greedy=True), lean=lean) as gen:
        gen.start(0, plan)
        return [gen.step(u[None]).frames[0].tolist() for u in user]


def _lm_with_context(tiny_model, context: int):
    files = checkpoint.ModelFiles(tiny_model)
    kwargs, steps = checkpoint.lm_kwargs(checkpoint.read_config(files), checkpoint.read_header(files.lm))
    kwargs["context"] = context
    return model.load_lm(files.lm, kwargs, steps, torch.device("cpu"), torch.float32)


@pytest.mark.parametrize("lean", [True, False], ids=["lean", "moshi"])
@pytest.mark.parametrize("context", [3000, 48])
def test_sessions_start_and_stop_independently(tiny_engine, tiny_model, context, lean):
    # A short context makes the ring cache wrap, where a careless prefill would
    # overwrite the running session's keys and values.
    lm = _lm_with_context(tiny_model, context)
    tok = tiny_engine.tokenizer
    plan_a = generator.plan_prompt(lm, tok.encode("<system> Hello there. <system>"),
                                   voice_codes=_user(10, 5))
    plan_b = generator.plan_prompt(lm, tok.encode("<system> Good morning to you. <system>"),
                                   voice_codes=_user(11, 7))
    user_a, user_b = _user(1, 60), _user(2, 30)
    want_a, want_b = _alone(lm, plan_a, user_a, lean), _alone(lm, plan_b, user_b, lean)

    got_a, got_b = [], []
    with Generator(lm, 3, Sampling(greedy=True), lean=lean) as gen:
        gen.start(0, plan_a)
        idle = torch.zeros(8, dtype=torch.long)
        for i in range(60):
            if i == 25:
                gen.start(2, plan_b)  # a new session joins mid-conversation
            j = i - 25
            batch = torch.stack([user_a[i], idle, user_b[j] if 0 <= j < 30 else idle])
            out = gen.step(batch)
            got_a.append(out.frames[0].tolist())
            if 0 <= j < 30:
                got_b.append(out.frames[2].tolist())
            if j == 29:
                gen.stop(2)
    assert got_a == want_a
    assert got_b == want_b


def test_restarting_a_row_forgets_the_old_session(tiny_engine):
    prepared = tiny_engine.prepare(Persona(text="Hello there.", voice="NATM1"))
    user = _user(4, 12)
    want = _alone(tiny_engine.lm, prepared.plan, user)
    with tiny_engine.generator(2, Sampling(greedy=True)) as gen:
        gen.start(1, prepared.plan)
        for u in _user(5, 9):
            gen.step(torch.stack([u, u]))
        gen.start(1, prepared.plan)
        got = [gen.step(torch.stack([u, u])).frames[1].tolist() for u in user]
    assert got == want


def test_sampling_is_reproducible_with_a_seed(tiny_engine):
    prepared = tiny_engine.prepare(Persona(text="Hello there.", voice="NATF2"))
    runs = []
    for _ in range(2):
        torch.manual_seed(7)
        with tiny_engine.generator(1, Sampling()) as gen:
            gen.start(0, prepared.plan)
            runs.append([gen.step(u[None]).frames[0].tolist() for u in _user(6, 20)])
    assert runs[0] == runs[1]
    torch.manual_seed(8)
    with tiny_engine.generator(1, Sampling()) as gen:
        gen.start(0, prepared.plan)
        other = [gen.step(u[None]).frames[0].tolist() for u in _user(6, 20)]
    assert other != runs[0]
