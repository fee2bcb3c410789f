"""Mimi's lean streaming transformer pass (engine/mimi_lean.py) against moshi's own, on a
codec loaded as the app loads it."""

import torch

from arcus_desktop.engine import checkpoint, mimi_lean, model


def _stream(mimi, audio: torch.Tensor, frames: int, pause: range) -> tuple[torch.Tensor, torch.Tensor]:
    """Encode and decode `frames` frames of two rows; row 1 paused for the frames in `pause`."""
    codes, out = [], []
    with torch.no_grad(), mimi.streaming(2):
        for i in range(frames):
            mimi.set_exec_mask(torch.tensor([True, i not in pause]))
            c = mimi.encode(audio[:, :, i * 1920:(i + 1) * 1920])
            codes.append(c)
            out.append(mimi.decode(c))
    return torch.cat(codes, -1), torch.cat(out, -1)


def test_lean_mimi_equals_moshi_past_the_ring(tiny_model, monkeypatch):
    """140 frames: past the 250-position ring of both transformers (2 positions a frame),
    with one row paused for a while, so rows sit at different ring slots."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    mimi = model.load(checkpoint.ModelFiles(tiny_model), torch.device("cpu")).mimi
    audio = torch.randn(2, 1, 1920 * 140) * 0.1
    moshi_calls = []
    for projected in (mimi.encoder_transformer, mimi.decoder_transformer):
        tr = projected.transformer
        original = tr._moshi_forward
        monkeypatch.setattr(tr, "_moshi_forward", lambda *a, _f=original, **k: moshi_calls.append(1) or _f(*a, **k))
    runs = {}
    for lean in (True, False):
        monkeypatch.setattr(mimi_lean, "ENABLED", lean)
        moshi_calls.clear()
        runs[lean] = _stream(mimi, audio, 140, range(30, 36))
        assert bool(moshi_calls) != lean  # the lean run never fell back to moshi's pass
    (codes, out), (ref_codes, ref_out) = runs[True], runs[False]
    assert torch.equal(codes, ref_codes)
    assert (out - ref_out).abs().max() <= 1e-5 * ref_out.abs().max()


def test_a_codec_outside_the_lean_shape_keeps_moshis_pass():
    from moshi.models import loaders

    from arcus_desktop.engine import testkit

    config = dict(testkit.TINY_MIMI_CONFIG)
    config["transformer"] = dict(config["transformer"], gating="silu")
    mimi = loaders.get_mimi(None, config, device="cpu", num_codebooks=8)
    mimi_lean.install(mimi)
    assert "_moshi_forward" not in mimi.encoder_transformer.transformer.__dict__
