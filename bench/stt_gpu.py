"""GPU check and cost of the user's words (Kyutai STT) in the frame loop.

1. Tiny models (testkit folders): PersonaPlex's tokens and audio are the same with and
   without the STT, with CUDA graphs and without; the STT's tokens are the same with
   and without graphs.
2. Real shapes, random weights (PersonaPlex-7B with 8 depformer steps, the real Mimi,
   stt-1b-en_fr's 1B LM), bf16: frame time p50/p99 with and without the STT, the STT
   step alone, Mimi encode with 8 and 32 codebooks, and the STT's GPU memory.

    arcus-desktop testkit --out .bench/tiny --stt-out .bench/tiny-stt
    python bench/stt_gpu.py --tiny .bench/tiny --tiny-stt .bench/tiny-stt \
        --wav .bench/input_assistant.wav [--out results.json]
    (on the GPU machine: pip install --no-deps a moshi 0.2.13 wheel first)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("NO_TORCH_COMPILE", "1")

import torch  # noqa: E402

from arcus_desktop.core.persona import Persona  # noqa: E402
from arcus_desktop.engine import checkpoint, generator, model, prompt, stt, stt_checkpoint, testkit  # noqa: E402
from arcus_desktop.engine import constants as C  # noqa: E402
from arcus_desktop.engine.engine import Engine, PreparedPersona  # noqa: E402
from arcus_desktop.engine.frame_loop import FrameLoop  # noqa: E402
from engine_gpu import pct, random_lm, random_mimi, read_wav, sync  # noqa: E402

STT_1B = dict(testkit.TINY_STT_CONFIG, dim=2048, num_heads=16, num_layers=16, text_card=8000,
              depformer_dim=1024, depformer_num_heads=16, depformer_num_layers=6)


def run_loop(engine, persona, pcm, frames, graphs, user_words=True):
    torch.manual_seed(0)
    out = []
    with FrameLoop(engine, persona, generator.Sampling(greedy=True), graphs, user_words) as loop:
        for i in range(frames):
            out.append(loop.process(pcm[i * C.FRAME_SIZE:(i + 1) * C.FRAME_SIZE]))
    return out


def tiny_check(tiny: Path, tiny_stt: Path, pcm: np.ndarray, device: str, frames: int = 60) -> dict:
    with_stt = Engine.load(tiny, device, stt_dir=tiny_stt)
    without = Engine.load(tiny, device, user_words=False)
    persona = Persona(text="You are a calm helper.", voice="NATF2")
    runs = {}
    for name, engine, graphs in (("plain_graph", without, True), ("plain_eager", without, False),
                                 ("stt_graph", with_stt, True), ("stt_eager", with_stt, False)):
        runs[name] = run_loop(engine, engine.prepare(persona), pcm, frames, graphs)
    tokens = {k: [r.text_token for r in v] for k, v in runs.items()}
    user = {k: [r.user_token for r in v] for k, v in runs.items() if k.startswith("stt")}
    same_audio = all(np.array_equal(a.pcm, b.pcm)
                     for a, b in zip(runs["plain_graph"], runs["stt_graph"]))
    return {
        "personaplex_tokens_same_with_stt_graph": tokens["plain_graph"] == tokens["stt_graph"],
        "personaplex_tokens_same_with_stt_eager": tokens["plain_eager"] == tokens["stt_eager"],
        "personaplex_audio_same_with_stt_graph": same_audio,
        "stt_tokens_same_graph_vs_eager": user["stt_graph"] == user["stt_eager"],
        "distinct_stt_tokens": len(set(user["stt_graph"])),
    }


def quantized(lm, mode: str, dtype):
    """The random STT LM with its matrices quantized in place, as loading would (the
    bench builds random weights in memory instead of reading a checkpoint)."""
    from arcus_desktop.engine import quant

    state = lm.state_dict()
    targets = {n: mods for n in state if (mods := quant.modules_for(n, 0))}
    quant.swap_in(lm, [m for mods in targets.values() for m in mods], mode, dtype, state[next(iter(targets))].device)
    for name, (module_name,) in targets.items():
        layer = lm.get_submodule(module_name)
        layer.codes, layer.scales = quant.quantize(state[name], mode)
    del state
    torch.cuda.empty_cache()
    return lm


def full_shape(pcm: np.ndarray, frames: int, warmup: int, stt_mode: str = "bf16") -> dict:
    device, dtype = torch.device("cuda"), torch.bfloat16
    lm = random_lm(dict(C.PERSONAPLEX_LM_KWARGS, dep_q=C.NUM_CODEBOOKS), device, dtype)
    mimi = random_mimi(None, device)
    tok_dir = Path(os.environ.get("TMPDIR", "/tmp")) / "arcus-bench-stt"
    tok_dir.mkdir(parents=True, exist_ok=True)
    testkit._write_tokenizer(tok_dir / C.TOKENIZER_FILE)
    tokenizer = model.load_tokenizer(tok_dir / C.TOKENIZER_FILE)
    loaded = model.LoadedModel(checkpoint.ModelFiles(tok_dir), lm, mimi, tokenizer, device, 16)
    sync(device)
    before = torch.cuda.memory_allocated()
    kwargs = {k: v for k, v in STT_1B.items()
              if k not in stt_checkpoint._NOT_KWARGS and k != "conditioners"}
    stt_lm = random_lm(kwargs, device, dtype)
    if stt_mode != "bf16":
        stt_lm = quantized(stt_lm, stt_mode, dtype)
    speech = stt.SpeechToText(stt_lm, tokenizer, stt_checkpoint.SttFiles(tok_dir, STT_1B))
    params = sum(p.numel() for p in stt_lm.parameters())  # left unquantized: embeddings, norms
    sync(device)
    weights = torch.cuda.memory_allocated() - before

    g = torch.Generator().manual_seed(1)
    text = torch.randint(4, lm.text_card, (200,), generator=g).tolist()
    voice_emb = (torch.randn(124, lm.dim, generator=g) * 0.02).to(dtype)
    ring = torch.randint(0, 2048, (C.NUM_STREAMS, 4), generator=g)
    ring[0] = C.TEXT_PAD
    plan = generator.plan_prompt(lm, text, voice_embeddings=voice_emb, voice_ring=ring)
    persona = PreparedPersona(Persona(), plan, prompt.TextPrompt("", text, len(text)), "random")

    result = {"stt_mode": stt_mode, "stt_params_unquantized": params, "stt_weights_gib": weights / 2**30}
    for name, engine in (("without_stt", Engine(loaded, cache_dir=tok_dir)),
                         ("with_stt", Engine(loaded, cache_dir=tok_dir, stt=speech))):
        times = []
        with FrameLoop(engine, persona) as loop:
            for i in range(frames):
                sync(device)
                t = time.perf_counter()
                loop.process(pcm[i * C.FRAME_SIZE:(i + 1) * C.FRAME_SIZE])
                times.append((time.perf_counter() - t) * 1e3)
        times = times[warmup:]
        result[name] = {"frame_ms_p50": pct(times, 50), "frame_ms_p99": pct(times, 99)}

    # The pieces alone: the STT step in its own graph, Mimi encode at 8 and 32 codebooks.
    from moshi.utils.compile import CUDAGraphed

    codes = torch.randint(0, 2048, (1, 32, 1), device=device)
    sync(device)
    idle = torch.cuda.memory_allocated()
    with torch.no_grad(), speech.streaming(1):
        result["stt_state_gib"] = (torch.cuda.memory_allocated() - idle) / 2**30
        step = CUDAGraphed(speech.step, disable=device.type != "cuda")
        result["stt_step_ms_p50"] = _timed(lambda: step(codes), 200)
    x = torch.from_numpy(pcm[: C.FRAME_SIZE].copy()).to(device)[None, None]
    for n in (8, 32):
        mimi.set_num_codebooks(n)
        with torch.no_grad(), mimi.streaming(1):
            enc = CUDAGraphed(mimi.encode, disable=device.type != "cuda")
            result[f"mimi_encode_{n}_ms_p50"] = _timed(lambda: enc(x), 200)
    mimi.set_num_codebooks(C.NUM_CODEBOOKS)
    return result


def _timed(fn, n: int) -> float:
    times = []
    for _ in range(n):
        torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t) * 1e3)
    return pct(times[20:], 50)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tiny", required=True)
    ap.add_argument("--tiny-stt", required=True)
    ap.add_argument("--wav", required=True)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--device", default="cuda", help="cpu runs the tiny check only (no graphs)")
    ap.add_argument("--stt-modes", nargs="+", default=["bf16"], choices=("bf16", "int8"),
                    help="the STT's precision in the full-shape runs (int8: as beside a "
                         "low-memory PersonaPlex)")
    ap.add_argument("--out")
    args = ap.parse_args()
    pcm = read_wav(Path(args.wav))
    gpu = torch.cuda.get_device_name(0) if args.device == "cuda" else "none"
    report = {"gpu": gpu, "torch": torch.__version__,
              "tiny": tiny_check(Path(args.tiny), Path(args.tiny_stt), pcm, args.device)}
    print(json.dumps(report, indent=1), flush=True)
    if args.device == "cuda":
        for mode in args.stt_modes:
            key = "full_shape" if mode == "bf16" else f"full_shape_stt_{mode}"
            report[key] = full_shape(pcm, args.frames, args.warmup, mode)
            print(json.dumps(report[key], indent=1), flush=True)
            torch.cuda.empty_cache()
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1))
    return 0 if all(v for k, v in report["tiny"].items() if k != "distinct_stt_tokens") else 1


if __name__ == "__main__":
    raise SystemExit(main())
