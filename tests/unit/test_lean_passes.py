"""The lean single-frame passes compute what moshi's own forward passes compute, in the
bfloat16 the GPU runs (the golden traces cover float32)."""

import torch

from arcus_desktop.engine import checkpoint, generator, model


def test_lean_equals_moshi_in_bfloat16(tiny_model):
    loaded = model.load(checkpoint.ModelFiles(tiny_model), torch.device("cpu"), dtype=torch.bfloat16)
    codes = torch.randint(0, 2048, (10, 8), generator=torch.Generator().manual_seed(0))
    plan = generator.plan_prompt(loaded.lm, [5, 6, 7, 8, 9], voice_codes=codes)
    user = torch.randint(0, 2048, (12, 2, 8), generator=torch.Generator().manual_seed(1))
    runs = []
    for lean in (True, False):
        with generator.Generator(loaded.lm, 2, generator.Sampling(greedy=True), lean=lean) as gen:
            gen.start(0, plan)
            gen.start(1, plan)
            runs.append([gen.step(u, with_logits=True) for u in user])
    # Same tokens; logits within 1% of their range, i.e. bfloat16 rounding (the lean
    # prefill attends over T keys where moshi's attends over its whole masked ring, so
    # its sums run in another order).
    for lean, plain in zip(*runs):
        assert torch.equal(lean.frames, plain.frames)
        for a, b in ((lean.text_logits, plain.text_logits), (lean.audio_logits, plain.audio_logits)):
            assert (a - b).abs().max() <= 0.01 * b.abs().max()
