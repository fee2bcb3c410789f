"""Write tiny checkpoints in the exact layouts of the real repositories.

`write`: PersonaPlex. Random weights, small dimensions, a sentencepiece model trained
on the spot and preset voices in the reference `.pt` format: everything the real
loading code reads, small enough for tests on a laptop CPU.
`write_stt`: Kyutai's speech-to-text (kyutai/stt-1b-en_fr), with the very Mimi file
that `write` makes from the same seed, as the real pair share one Mimi checkpoint.
Rebuilding with the same seed gives the same files.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np

from .torch_env import torch

import sentencepiece
from moshi.models import loaders
from moshi.models.lm import LMModel
from safetensors.torch import save_file

from . import constants as C
from .generator import Generator, plan_prompt

TINY_LM_KWARGS = dict(
    C.PERSONAPLEX_LM_KWARGS,
    dim=32, num_heads=4, num_layers=2, text_card=128,
    depformer_dim=8, depformer_dim_feedforward=33, depformer_num_heads=2, depformer_num_layers=1,
)

TINY_MIMI_CONFIG = {
    "sample_rate": C.SAMPLE_RATE,
    "channels": 1,
    "frame_rate": C.FRAME_RATE,
    "seanet": dict(loaders._seanet_kwargs, dimension=32, n_filters=4),
    # 32 codebooks like the real codec: PersonaPlex uses 8, the speech-to-text model all 32.
    "quantizer": dict(loaders._quantizer_kwargs, dimension=16, n_q=32, input_dimension=32,
                      output_dimension=32),
    "transformer": dict(loaders._transformer_kwargs, d_model=32, num_heads=2, num_layers=1,
                        dim_feedforward=64, input_dimension=32, output_dimensions=[32]),
}

TEST_VOICES = ("NATF0", "NATF2", "NATM1", "VARF3")

_CORPUS = """\
You are a helpful assistant who answers questions about the team's work.
You work for SwiftPlex Appliances which is an appliance repair company.
The dishwasher model is out of stock for replacement parts.
We can use an alternative part with a three day delay.
Labor cost remains sixty dollars per hour.
Hello, how can I help you today? Thank you for calling.
Please tell me more about the problem you are having with the machine.
I understand. Let me check the schedule and get back to you.
The meeting moved to Thursday afternoon, and the report is due on Friday.
Remember that I prefer short answers and a friendly tone.
Yes, that sounds good. No problem at all. Could you repeat that please?
What time works best for you? Morning or evening, either is fine.
The quick brown fox jumps over the lazy dog near the river bank.
Numbers like one two three four five six seven eight nine ten are common.
<system> You enjoy having a good conversation. <system>
"""


def save_lm(lm: LMModel, path: Path, dep_steps: int | None = None) -> None:
    """Save an LMModel the way the published checkpoints store it."""
    from .model import published_layout

    state = published_layout({name: t.contiguous() for name, t in lm.state_dict().items()})
    if dep_steps is not None and dep_steps < lm.dep_q:
        state = _as_dep8(state, lm.dep_q, dep_steps)
    save_file({n: t.cpu() for n, t in state.items()}, str(path))


def _as_dep8(state: dict, steps: int, keep: int) -> dict:
    """The older layout of checkpoints that only hold the model's own codebooks."""
    from .model import _keep, _trim

    return {n: _trim(n, t, steps, keep).clone() for n, t in state.items() if _keep(n, keep)}


def randomize_codebooks(mimi) -> None:
    """A fresh Mimi's codebooks are all zeros (every frame would code to 0): spread them."""
    with torch.no_grad():
        for name, buf in mimi.named_buffers():
            if name.endswith("embedding_sum"):
                buf.copy_(torch.randn_like(buf))
            elif name.endswith("cluster_usage"):
                buf.fill_(1.0)
            elif name.endswith("_initialized"):
                buf.fill_(1)


def tiny_mimi(seed: int):
    """The tiny Mimi of a seed: the same for PersonaPlex's and the STT's test checkpoints."""
    torch.manual_seed(seed + 1)
    mimi = loaders.get_mimi(None, TINY_MIMI_CONFIG, device="cpu",
                             num_codebooks=C.NUM_CODEBOOKS).eval()
    randomize_codebooks(mimi)
    return mimi


def save_mimi(mimi, path: Path) -> None:
    save_file({n: t.contiguous().cpu() for n, t in mimi.state_dict().items()}, str(path))


def _write_tokenizer(path: Path) -> None:
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(_CORPUS.splitlines()), model_writer=model,
        vocab_size=TINY_LM_KWARGS["text_card"], hard_vocab_limit=False, model_type="unigram",
        unk_id=0, bos_id=1, eos_id=2, pad_id=3, num_threads=1, minloglevel=2,
        character_coverage=1.0, seed_sentencepiece_size=10000,
    )
    path.write_bytes(model.getvalue())


def _voice_audio(index: int, seconds: float = 2.0) -> np.ndarray:
    """A short synthetic 'voice': a vowel-like buzz with its own pitch."""
    t = np.arange(int(seconds * C.SAMPLE_RATE)) / C.SAMPLE_RATE
    f0 = 110.0 + 35.0 * index
    wave = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6))
    return (0.2 * wave * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)


def _voice_pt(lm: LMModel, codes: torch.Tensor) -> bytes:
    """A voice in the reference `.pt` format: the voice's transformer inputs and token ring."""
    plan = plan_prompt(lm, [], voice_codes=codes)
    v = codes.shape[0]
    columns = plan.columns[:v]  # columns 0..V-1
    ring_len = max(lm.delays) + 3
    ring = torch.zeros(C.NUM_STREAMS, ring_len, dtype=torch.long)
    for pos in range(max(0, v - ring_len + 1), v):
        ring[:, pos % ring_len] = columns[pos]
    delayed = torch.tensor([d > 0 for d in lm.delays])
    ring[:, v % ring_len] = torch.where(delayed, plan.columns[v], ring[:, v % ring_len])
    with Generator(lm, 1) as gen, torch.no_grad():
        embeddings = gen.embed(columns[None, : v - 1].to(lm.device))[0].cpu()
    buf = io.BytesIO()
    torch.save({"embeddings": embeddings.reshape(v - 1, 1, 1, lm.dim).clone(),
                "cache": ring[None].clone()}, buf)
    return buf.getvalue()


def write_voices(path: Path, lm: LMModel, mimi, names=TEST_VOICES) -> None:
    """voices.tgz with one synthetic voice per name, in the reference `.pt` format."""
    from ..audio.files import normalize_loudness
    from .voices import encode_recording

    with tarfile.open(path, "w:gz") as tar:
        for i, name in enumerate(names):
            pcm = normalize_loudness(_voice_audio(i), C.SAMPLE_RATE)
            blob = _voice_pt(lm, encode_recording(mimi, pcm))
            info = tarfile.TarInfo(f"voices/{name}.pt")
            info.size, info.mtime = len(blob), 0
            tar.addfile(info, io.BytesIO(blob))


def write(out: str | Path, seed: int = 1234, dep_steps: int = 16) -> Path:
    """Write the tiny checkpoint folder; returns its path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.manual_seed(seed)
        save_lm(LMModel(device="cpu", dtype=torch.float32, **TINY_LM_KWARGS), out / C.LM_FILE, dep_steps)
        mimi = tiny_mimi(seed)
        save_mimi(mimi, out / C.MIMI_FILE)
        _write_tokenizer(out / C.TOKENIZER_FILE)
        from .model import load_lm
        from . import checkpoint

        kwargs, steps = checkpoint.lm_kwargs({"lm_kwargs": TINY_LM_KWARGS},
                                             checkpoint.read_header(out / C.LM_FILE))
        lm = load_lm(out / C.LM_FILE, kwargs, steps, torch.device("cpu"), torch.float32)
        write_voices(out / C.VOICES_FILE, lm, mimi)
    config = {
        "model_type": "personaplex",
        "testkit": True,
        "note": "Tiny random-weight checkpoint written by `arcus-desktop testkit`; it speaks noise.",
        "lm_kwargs": TINY_LM_KWARGS,
        "mimi_config": TINY_MIMI_CONFIG,
        "seed": seed,
    }
    (out / C.CONFIG_FILE).write_text(json.dumps(config, indent=1) + "\n")
    return out


# config.json of kyutai/stt-1b-en_fr with tiny dimensions: the same keys, the same
# stream layout (32 codebooks, no delays, no depformer), the same delay and file names.
TINY_STT_CONFIG = {
    "card": 2048, "n_q": 32, "dep_q": 0, "delays": [0] * 33, "dim": 32, "text_card": 128,
    "existing_text_padding_id": 3, "num_heads": 4, "num_layers": 2, "hidden_scale": 4.125,
    "causal": True, "layer_scale": None, "context": 750, "max_period": 100000.0,
    "gating": "silu", "norm": "rms_norm_f32", "positional_embedding": "rope",
    "depformer_dim": 8, "depformer_num_heads": 2, "depformer_num_layers": 1,
    "depformer_dim_feedforward": None, "depformer_multi_linear": True,
    "depformer_pos_emb": "none", "depformer_weights_per_step": True,
    "conditioners": {}, "cross_attention": False, "model_id": {"sig": "testkit", "epoch": 0},
    "lm_gen_config": {"temp": 0.0, "temp_text": 0.0, "top_k": 250, "top_k_text": 50},
    "stt_config": {"audio_delay_seconds": 0.5, "audio_silence_prefix_seconds": 0.0},
    "model_type": "stt",
    "mimi_name": "mimi-pytorch-e351c8d8@125.safetensors",
    "tokenizer_name": "tokenizer_en_fr_audio_8000.model",
}


def write_stt(out: str | Path, seed: int = 1234) -> Path:
    """Write a tiny speech-to-text checkpoint folder; its Mimi is `write(seed=seed)`'s."""
    from .stt_checkpoint import _NOT_KWARGS

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config = TINY_STT_CONFIG
    kwargs = {k: v for k, v in config.items() if k not in _NOT_KWARGS and k != "conditioners"}
    with torch.no_grad():
        torch.manual_seed(seed + 2)
        lm = LMModel(device="cpu", dtype=torch.float32, **kwargs)
        # A random model fed its own last token tends to repeat it forever; a weaker text
        # input lets the audio steer it, so tests see words change with what was said.
        lm.text_emb.weight.mul_(0.1)
        save_lm(lm, out / "model.safetensors")
        save_mimi(tiny_mimi(seed), out / config["mimi_name"])
    _write_tokenizer(out / config["tokenizer_name"])
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    return out
