"""The user's words: Kyutai's speech-to-text next to PersonaPlex, on the tiny models."""

import json
import shutil

import numpy as np
import pytest
import torch

from arcus_desktop.audio import files as audio_files
from arcus_desktop.core.errors import (
    ArcusError,
    CheckpointShapeError,
    CorruptFileError,
    ModelNotFoundError,
)
from arcus_desktop.core.persona import Persona
from arcus_desktop.engine import constants as C
from arcus_desktop.engine import model, stt, stt_checkpoint, testkit
from arcus_desktop.engine.download import STT_FILES
from arcus_desktop.engine.engine import Engine
from arcus_desktop.engine.frame_loop import FrameLoop
from arcus_desktop.engine.generator import Sampling

from ..conftest import AUDIO

# The keys of kyutai/stt-1b-en_fr's config.json.
REAL_KEYS = {
    "card", "n_q", "dep_q", "delays", "dim", "text_card", "existing_text_padding_id",
    "num_heads", "num_layers", "hidden_scale", "causal", "layer_scale", "context", "max_period",
    "gating", "norm", "positional_embedding", "depformer_dim", "depformer_num_heads",
    "depformer_num_layers", "depformer_dim_feedforward", "depformer_multi_linear",
    "depformer_pos_emb", "depformer_weights_per_step", "conditioners", "cross_attention",
    "model_id", "lm_gen_config", "stt_config", "model_type", "mimi_name", "tokenizer_name",
}


@pytest.fixture(scope="module")
def speech():
    """Four seconds of real speech at 24 kHz."""
    return audio_files.read_mono(AUDIO / "input_service.wav", C.SAMPLE_RATE)[: 50 * C.FRAME_SIZE]


def test_testkit_writes_the_real_layout(tiny_model, tiny_stt, tmp_path):
    assert sorted(p.name for p in tiny_stt.iterdir()) == sorted(STT_FILES)
    config = json.loads((tiny_stt / "config.json").read_text())
    assert set(config) == REAL_KEYS
    assert config["model_type"] == "stt" and config["n_q"] == 32 and config["dep_q"] == 0
    assert config["stt_config"] == {"audio_delay_seconds": 0.5, "audio_silence_prefix_seconds": 0.0}
    # One Mimi checkpoint for both models, as in the real pair.
    assert (tiny_stt / config["mimi_name"]).read_bytes() == (tiny_model / C.MIMI_FILE).read_bytes()
    again = testkit.write_stt(tmp_path / "again")
    for name in STT_FILES:
        assert (again / name).read_bytes() == (tiny_stt / name).read_bytes(), name


def test_steps_like_moshis_own_loader_and_lmgen(tiny_stt):
    """Loaded by moshi's CheckpointInfo and run by its LMGen (greedy), the checkpoint gives
    the same tokens as our step, with our lean trunk and with moshi's transformer."""
    from moshi.models import LMGen, loaders

    files = stt_checkpoint.locate(tiny_stt)
    info = loaders.CheckpointInfo.from_hf_repo(
        "kyutai/stt-1b-en_fr", moshi_weights=files.lm, mimi_weights=files.mimi,
        tokenizer=files.tokenizer, config_path=tiny_stt / "config.json")
    assert info.model_type == "stt" and info.stt_config["audio_delay_seconds"] == 0.5
    reference = LMGen(info.get_moshi(device="cpu", dtype=torch.float32), temp=0, temp_text=0)
    codes = torch.randint(0, 2048, (40, 1, 32, 1), generator=torch.Generator().manual_seed(0))
    with reference.streaming(1):
        expected = [int(reference.step(c)[0, 0, 0]) for c in codes]
    assert len(set(expected)) > 5  # the test would be weak on a constant stream
    for lean in (True, False):
        model_ = stt.load(files, torch.device("cpu"), torch.float32, lean=lean)
        assert (model_._trunk is not None) == lean
        with model_.streaming(1):
            got = [int(model_.step(c)) for c in codes]
        assert got == expected, f"lean={lean}"


def test_first_8_of_32_codebooks_are_an_8_codebook_encode(tiny_model, speech):
    config = json.loads((tiny_model / C.CONFIG_FILE).read_text())
    eight = model.load_mimi(tiny_model / C.MIMI_FILE, config["mimi_config"], torch.device("cpu"))
    all32 = model.load_mimi(tiny_model / C.MIMI_FILE, config["mimi_config"], torch.device("cpu"))
    all32.set_num_codebooks(32)
    noise = np.random.default_rng(0).normal(0, 0.3, 20 * C.FRAME_SIZE).astype(np.float32)
    pcm = np.concatenate([speech, noise])
    got8, got32 = [], []
    with torch.no_grad(), eight.streaming(1), all32.streaming(1):
        for i in range(pcm.size // C.FRAME_SIZE):
            x = torch.from_numpy(pcm[i * C.FRAME_SIZE:(i + 1) * C.FRAME_SIZE])[None, None]
            got8.append(eight.encode(x))
            got32.append(all32.encode(x))
    got8, got32 = torch.cat(got8, -1), torch.cat(got32, -1)
    assert got8.shape[1] == 8 and got32.shape[1] == 32
    assert torch.equal(got32[:, :8], got8)
    assert len(got32[0, 7].unique()) > 1 and len(got32[0, 31].unique()) > 1


def _run(engine, persona, pcm, sampling, seed, user_words=True):
    torch.manual_seed(seed)
    with FrameLoop(engine, engine.prepare(persona), sampling, user_words=user_words) as loop:
        results = [loop.process(pcm[i * C.FRAME_SIZE:(i + 1) * C.FRAME_SIZE])
                   for i in range(pcm.size // C.FRAME_SIZE)]
        results += loop.flush_user()
    return results


@pytest.mark.parametrize("sampling", [Sampling(greedy=True), Sampling()], ids=["greedy", "sampled"])
def test_frame_loop_with_stt_keeps_personaplex_tokens(tiny_engine, tiny_stt_engine, speech, sampling):
    persona = Persona(text="You are a calm helper.", voice="NATF2")
    pcm = speech[: 30 * C.FRAME_SIZE]
    plain = _run(tiny_engine, persona, pcm, sampling, seed=7)
    both = _run(tiny_stt_engine, persona, pcm, sampling, seed=7)
    assert len(plain) == 30 and len(both) == 30 + 7  # 0.5 s of flush for the last words
    assert [r.text_token for r in plain] == [r.text_token for r in both[:30]]
    for a, b in zip(plain, both):
        assert np.array_equal(a.pcm, b.pcm)
    assert all(r.user_token is None for r in plain)
    assert all(r.user_token is not None for r in both)
    assert [r.user_time for r in both] == [tiny_stt_engine.stt.time_of(i) for i in range(37)]
    # The codec is back at PersonaPlex's 8 codebooks for everything else.
    assert tiny_stt_engine.mimi.num_codebooks == C.NUM_CODEBOOKS


def test_beside_a_low_memory_personaplex_the_stt_is_8_bit_too(tiny_model, tiny_stt, tiny_stt_engine,
                                                              speech):
    from arcus_desktop.engine import quant

    engine = Engine.load(tiny_model, "cpu", quant_mode="int8", stt_dir=tiny_stt)
    quantized = [m for m in engine.stt.lm.modules() if isinstance(m, quant.QuantLinear)]
    assert quantized and all(m.mode == "int8" for m in quantized)
    assert not any(isinstance(m, quant.QuantLinear) for m in tiny_stt_engine.stt.lm.modules())
    # It still hears: the user's tokens mostly agree with the full-precision STT's on the
    # same 8-bit PersonaPlex conversation.
    pcm = speech[: 30 * C.FRAME_SIZE]
    persona = Persona(voice="NATM1")
    low = [r.user_token for r in _run(engine, persona, pcm, Sampling(greedy=True), 3)]
    full_stt = Engine(engine.loaded, stt=stt.load(stt_checkpoint.locate(tiny_stt), torch.device("cpu")))
    full_stt.stt.prefix_codes = engine.stt.prefix_codes
    full = [r.user_token for r in _run(full_stt, persona, pcm, Sampling(greedy=True), 3)]
    assert len(low) == len(full) == 37
    assert sum(a == b for a, b in zip(low, full)) >= 0.8 * len(full)


def test_user_tokens_match_a_separate_encode_and_step(tiny_stt_engine, speech):
    """Inside the frame loop, the user's tokens are those of a plain 32-codebook encode
    stepped through the speech-to-text model on its own."""
    engine = tiny_stt_engine
    pcm = speech[: 20 * C.FRAME_SIZE]
    looped = [r.user_token for r in _run(engine, Persona(voice="NATM1"), pcm, Sampling(), 1)[:20]]
    config = json.loads((engine.loaded.files.config).read_text())
    mimi = model.load_mimi(engine.loaded.files.mimi, config["mimi_config"], torch.device("cpu"))
    mimi.set_num_codebooks(32)
    alone = []
    with torch.no_grad(), mimi.streaming(1), engine.stt.streaming(1):
        for i in range(20):
            x = torch.from_numpy(pcm[i * C.FRAME_SIZE:(i + 1) * C.FRAME_SIZE])[None, None]
            alone.append(int(engine.stt.step(mimi.encode(x))))
    assert looped == alone


def test_timed_words_take_the_delay_off(tiny_stt_engine):
    speech = tiny_stt_engine.stt
    sp = speech.tokenizer
    starts_word = [i for i in range(4, sp.vocab_size())
                   if sp.id_to_piece(i).startswith("▁") and len(sp.id_to_piece(i)) > 2]
    inside = [i for i in range(4, sp.vocab_size())
              if not sp.id_to_piece(i).startswith("▁") and not sp.is_control(i)]
    a, b, c, tail = starts_word[0], starts_word[1], starts_word[2], inside[0]
    PAD, EPAD = 3, 0
    tokens = [PAD] * 30
    tokens[2] = a  # written before the delay has passed: said at 0 s, not before
    tokens[12], tokens[13] = EPAD, b
    tokens[19], tokens[20], tokens[21] = EPAD, c, tail  # one word of two pieces
    words = speech.words(tokens).words
    piece = sp.id_to_piece
    assert [w.text for w in words] == [piece(a)[1:], piece(b)[1:], piece(c)[1:] + piece(tail)]
    assert words[0].start == 0.0
    assert words[1].start == pytest.approx(13 * 0.08 - 0.5)
    assert words[2].start == pytest.approx(20 * 0.08 - 0.5)
    assert words[2].end == pytest.approx(22 * 0.08 - 0.5)
    starts = [w.start for w in words]
    assert starts == sorted(starts) and min(starts) >= 0.0
    assert all(w.end > w.start for w in words)
    # Frames counted from later in a conversation shift the times.
    later = speech.words(tokens, first_frame=100).words
    assert later[1].start == pytest.approx(113 * 0.08 - 0.5)
    assert speech.piece(PAD) is None and speech.piece(EPAD) is None


def test_engine_without_stt_says_why(tiny_model):
    engine = Engine.load(tiny_model, "cpu")  # the test's Hugging Face cache is empty
    assert engine.stt is None
    assert engine.stt_note == stt_checkpoint.NOT_INSTALLED
    assert "timed turns without words" in engine.stt_note
    off = Engine.load(tiny_model, "cpu", user_words=False)
    assert off.stt is None and "switched off" in off.stt_note


def _broken(tiny_stt, tmp_path, how):
    root = tmp_path / "broken"
    shutil.copytree(tiny_stt, root)
    if how == "truncated":
        data = (root / "model.safetensors").read_bytes()
        (root / "model.safetensors").write_bytes(data[: len(data) // 2])
    elif how == "config":
        (root / "config.json").write_text("{ not json")
    elif how == "tokenizer":
        (root / "tokenizer_en_fr_audio_8000.model").write_bytes(b"\0" * 100)
    elif how == "missing":
        (root / "tokenizer_en_fr_audio_8000.model").unlink()
    elif how == "shape":
        config = json.loads((root / "config.json").read_text())
        (root / "config.json").write_text(json.dumps(dict(config, num_layers=3)))
    elif how == "codec":
        (root / "mimi-pytorch-e351c8d8@125.safetensors").write_bytes(
            (tiny_stt / "model.safetensors").read_bytes())
    return root


BROKEN = [("truncated", CorruptFileError, "damaged"),
          ("config", CorruptFileError, "config.json cannot be read"),
          ("tokenizer", CorruptFileError, "not a valid tokenizer"),
          ("missing", ModelNotFoundError, "incomplete"),
          ("shape", CheckpointShapeError, "3"),
          ("codec", CheckpointShapeError, "another Mimi codec")]


@pytest.mark.parametrize("how,kind,words", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_stt_checkpoint_is_a_clear_error(tiny_model, tiny_stt, tmp_path, how, kind, words):
    root = _broken(tiny_stt, tmp_path, how)
    with pytest.raises(kind) as err:
        Engine.load(tiny_model, "cpu", stt_dir=root)
    assert words in err.value.message
    assert "speech-to-text" in err.value.user_text().lower()
    assert "download --stt" in err.value.hint or how == "codec"


def test_wrong_folders_are_clear_errors(tiny_model, tmp_path):
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        Engine.load(tiny_model, "cpu", stt_dir=tmp_path / "nowhere")
    with pytest.raises(CheckpointShapeError, match="does not hold a speech-to-text model"):
        Engine.load(tiny_model, "cpu", stt_dir=tiny_model)  # PersonaPlex's folder


def test_a_broken_downloaded_stt_leaves_the_engine_working(tiny_model, tiny_stt, tmp_path,
                                                           monkeypatch):
    root = _broken(tiny_stt, tmp_path, "truncated")
    monkeypatch.setattr(stt_checkpoint, "find_installed", lambda cache_dir=None: root)
    engine = Engine.load(tiny_model, "cpu")
    assert engine.stt is None
    assert "cannot be used" in engine.stt_note
    # The app says its own way forward (Settings > Engine); the command line gets this.
    assert "arcus-desktop" not in engine.stt_note and "download --stt" in engine.stt_hint
    monkeypatch.setattr(stt_checkpoint, "find_installed", lambda cache_dir=None: tiny_stt)
    assert Engine.load(tiny_model, "cpu").stt is not None


def test_an_eight_codebook_codec_cannot_feed_the_stt(tiny_stt, tmp_path):
    """Older tiny checkpoints kept only 8 codebooks: the reason is said, not a crash."""
    from moshi.models import loaders

    cfg = dict(testkit.TINY_MIMI_CONFIG, quantizer=dict(testkit.TINY_MIMI_CONFIG["quantizer"], n_q=8))
    mimi = loaders.get_mimi(None, cfg, "cpu", 8)
    with pytest.raises(ArcusError, match="8 codebooks"):
        stt.check_codec(stt_checkpoint.locate(tiny_stt), mimi, tiny_stt / STT_FILES[2])


def test_stt_step_time_on_cpu(tiny_stt_engine):
    """Not a limit: prints the tiny model's step time for the record (-s to see it)."""
    import time

    speech = tiny_stt_engine.stt
    codes = torch.randint(0, 2048, (1, 32, 1))
    times = []
    with speech.streaming(1):
        for _ in range(50):
            t0 = time.perf_counter()
            speech.step(codes)
            times.append((time.perf_counter() - t0) * 1e3)
    print(f"tiny STT step on CPU: p50 {np.median(times):.2f} ms")
    assert np.median(times) < 1000


def test_the_stt_waits_for_room_left_by_personaplex_conversations():
    gib = 2**30
    # int8 picked for a card with 10.5 GiB free: after its weights (7.9 GiB) and Mimi about
    # 2.2 GiB are left, and the 4-minute key/value cache (1.46 GiB) is still to come; the
    # STT (1.84 GiB) does not fit beside it. On a big card it does.
    kv = 32 * 2 * 3000 * 4096 * 2
    free_after_load = int(2.2 * gib)
    assert stt.shortfall(free_after_load, int(1.84 * gib), kv) > 1.5 * gib
    assert stt.shortfall(40 * gib, int(1.84 * gib), kv) == 0
