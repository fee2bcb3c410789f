"""GPU benchmark of the engine on PersonaPlex-7B's real shape with random weights.

Measures what the foundation issue asks: persona start (10 s voice from a .pt plus 200
text tokens), the full frame loop (Mimi encode, step, Mimi decode, copy to host) over
the frames of a real recording, and peak GPU memory. Prints a table; --out writes JSON.

    python bench/engine_gpu.py --wav .bench/input_assistant.wav --out results.json
    python bench/engine_gpu.py --shape tiny --device cpu --frames 20   # smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("NO_TORCH_COMPILE", "1")

import torch  # noqa: E402
from moshi.models import loaders  # noqa: E402
from moshi.models.compression import MimiModel  # noqa: E402
from moshi.models.lm import LMModel  # noqa: E402

from arcus_desktop.core.persona import Persona  # noqa: E402
from arcus_desktop.engine import checkpoint, constants as C, generator, mimi_lean, model, prompt, testkit  # noqa: E402
from arcus_desktop.engine.engine import Engine, PreparedPersona  # noqa: E402
from arcus_desktop.engine.frame_loop import FrameLoop  # noqa: E402


def random_lm(kwargs: dict, device: torch.device, dtype: torch.dtype) -> LMModel:
    """The model with its real shape and random weights, built straight on the device."""
    with torch.device("meta"):
        lm = LMModel(device="meta", dtype=dtype, **kwargs)
    lm = lm.to_empty(device=device)
    gen = torch.Generator(device=device).manual_seed(0)
    with torch.no_grad():
        for name, p in lm.named_parameters():
            if name.endswith("alpha"):
                p.fill_(1.0)
            else:
                p.normal_(0.0, 0.02, generator=gen)
    return lm.eval()


def random_mimi(config: dict | None, device: torch.device):
    torch.manual_seed(0)
    mimi = loaders.get_mimi(None, mimi_config=config, device=device, num_codebooks=C.NUM_CODEBOOKS)
    testkit.randomize_codebooks(mimi)
    mimi_lean.install(mimi)  # as model.load_mimi does
    return mimi.eval()


def random_model(shape: str, device: torch.device) -> tuple[LMModel, MimiModel]:
    """PersonaPlex's full shape or the test kit's tiny one (all 8 depformer steps), random
    weights: bf16 on a GPU, float32 on the CPU."""
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    if shape == "full":
        kwargs, mimi_config = dict(C.PERSONAPLEX_LM_KWARGS, dep_q=C.NUM_CODEBOOKS), None
    else:
        kwargs, mimi_config = dict(testkit.TINY_LM_KWARGS, dep_q=C.NUM_CODEBOOKS), testkit.TINY_MIMI_CONFIG
    return random_lm(kwargs, device, dtype), random_mimi(mimi_config, device)


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        assert w.getframerate() == C.SAMPLE_RATE and w.getnchannels() == 1 and w.getsampwidth() == 2
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def pct(values, q) -> float:
    return float(np.percentile(np.asarray(values), q))


def report(result: dict, folder: str | None, name: str) -> None:
    """Print a run's result as JSON and, with a folder (the device's $OUT), write it there."""
    text = json.dumps(result, indent=1)
    print(text)
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / name).write_text(text)


def model_args(ap) -> None:
    """The arguments every GPU bench takes: the model's shape, the device, the recording."""
    ap.add_argument("--shape", choices=("full", "tiny"), default="full")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--wav", default=str(ROOT / ".bench" / "input_assistant.wav"))


def build(shape: str, device: torch.device, voice_frames: int = 125, text_tokens: int = 200):
    """The engine on random weights, and `prepared()`: a persona of a voice replayed
    from a reference-format .pt plus `text_tokens` text tokens."""
    lm, mimi = random_model(shape, device)
    tok_dir = Path(os.environ.get("TMPDIR", "/tmp")) / "arcus-bench-tok"
    tok_dir.mkdir(parents=True, exist_ok=True)
    testkit._write_tokenizer(tok_dir / C.TOKENIZER_FILE)
    tokenizer = model.load_tokenizer(tok_dir / C.TOKENIZER_FILE)
    loaded = model.LoadedModel(checkpoint.ModelFiles(tok_dir), lm, mimi, tokenizer, device, 16)
    engine = Engine(loaded, cache_dir=tok_dir)
    g = torch.Generator().manual_seed(1)
    voice_emb = (torch.randn(voice_frames - 1, lm.dim, generator=g) * 0.02).to(lm.dtype)
    voice_ring = torch.randint(0, 2048, (C.NUM_STREAMS, 4), generator=g)
    voice_ring[0] = C.TEXT_PAD
    text = torch.randint(4, lm.text_card, (text_tokens,), generator=g).tolist()

    def prepared() -> PreparedPersona:
        plan = generator.plan_prompt(lm, text, voice_embeddings=voice_emb, voice_ring=voice_ring)
        return PreparedPersona(Persona(), plan, prompt.TextPrompt("", text, len(text)), "random")

    return lm, mimi, engine, prepared


def main() -> int:
    ap = argparse.ArgumentParser()
    model_args(ap)
    ap.add_argument("--frames", type=int, default=500)
    ap.add_argument("--warmup", type=int, default=10, help="frames left out of the statistics")
    ap.add_argument("--voice-frames", type=int, default=125, help="10 s of voice")
    ap.add_argument("--text-tokens", type=int, default=200)
    ap.add_argument("--out")
    args = ap.parse_args()

    device = torch.device(args.device)
    torch.manual_seed(0)

    t0 = time.perf_counter()
    lm, mimi, engine, prepared = build(args.shape, device, args.voice_frames, args.text_tokens)
    dtype = lm.dtype
    sync(device)
    build_s = time.perf_counter() - t0
    params = sum(p.numel() for p in lm.parameters())

    starts, restores = [], []
    with engine.generator(1) as gen:
        for _ in range(6):
            sync(device)
            t = time.perf_counter()
            gen.start(0, prepared().plan)
            sync(device)
            starts.append((time.perf_counter() - t) * 1e3)
        state = gen.snapshot(0)  # what the persona cache keeps
        for _ in range(6):
            sync(device)
            t = time.perf_counter()
            gen.restore(0, state)
            sync(device)
            restores.append((time.perf_counter() - t) * 1e3)
    persona_frames = prepared().plan.length

    pcm = read_wav(Path(args.wav))
    n = min(args.frames, pcm.size // C.FRAME_SIZE)
    totals = []
    with FrameLoop(engine, prepared()) as loop:
        for i in range(n):
            res = loop.process(pcm[i * C.FRAME_SIZE:(i + 1) * C.FRAME_SIZE])
            totals.append(res.compute_ms)
        # Break the frame down with CUDA events on a few extra frames.
        parts = {"encode": [], "step": [], "decode": []}
        if device.type == "cuda":
            for i in range(50):
                x = torch.from_numpy(pcm[i * C.FRAME_SIZE:(i + 1) * C.FRAME_SIZE].copy()).to(device)
                ev = [torch.cuda.Event(enable_timing=True) for _ in range(4)]
                ev[0].record()
                codes = mimi.encode(x[None, None])
                ev[1].record()
                out = loop.gen.step(codes[:, :, 0])
                ev[2].record()
                mimi.decode(out.frames[0][C.MODEL_AUDIO][None, :, None])
                ev[3].record()
                torch.cuda.synchronize()
                for k, name in enumerate(parts):
                    parts[name].append(ev[k].elapsed_time(ev[k + 1]))
    steady = totals[args.warmup:]

    # Graphed and plain steps from the same state and inputs (greedy), each twice: GPU
    # kernels are not bitwise reproducible and random weights make near-tie logits, so
    # tokens drift apart; graphs should drift no more than two plain runs do.
    with torch.no_grad(), mimi.streaming(1):
        codes = [mimi.encode(torch.from_numpy(pcm[i * C.FRAME_SIZE:(i + 1) * C.FRAME_SIZE].copy())
                             .to(device)[None, None])[:, :, 0] for i in range(40)]
    runs = []
    for graphs in (False, True, False, True):
        with engine.generator(1, generator.Sampling(greedy=True), cuda_graphs=graphs) as g:
            g.start(0, prepared().plan)
            runs.append([(o.frames[0].tolist(), o.text_logits[0].float().cpu())
                         for o in (g.step(c) for c in codes)])

    def compare(a, b) -> str:
        same = [x[0] == y[0] for x, y in zip(a, b)]
        first_diff = same.index(False) if False in same else len(same)
        diff = float((a[0][1] - b[0][1]).abs().max())
        return f"tokens equal for {first_diff}/40 steps, first-step max |text logit diff| {diff:.3g}"

    graph_check = (f"plain vs graph: {compare(runs[0], runs[1])}; plain vs plain: "
                   f"{compare(runs[0], runs[2])}; graph vs graph: {compare(runs[1], runs[3])} "
                   f"(logits up to {float(runs[0][0][1].abs().max()):.3g})")

    result = {
        "date": time.strftime("%Y-%m-%d"),
        # $COMMIT first: the device machine's .git can be older than the tree it was sent
        "commit": os.environ.get("COMMIT") or subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
            cwd=ROOT).stdout.strip() or "?",
        "device": torch.cuda.get_device_name() if device.type == "cuda" else platform.processor(),
        "torch": torch.__version__,
        "shape": args.shape,
        "lm_parameters_b": round(params / 1e9, 3),
        "build_s": round(build_s, 1),
        "persona_frames": persona_frames,
        "persona_start_ms_first": round(starts[0], 1),
        "persona_start_ms_median": round(pct(starts[1:], 50), 1),
        "persona_repeat_start_ms_median": round(pct(restores[1:], 50), 2),
        "persona_state_mb": round(state.nbytes / 2**20, 1),
        "frames": len(steady),
        "frame_ms_p50": round(pct(steady, 50), 2),
        "frame_ms_p99": round(pct(steady, 99), 2),
        "frame_ms_max": round(max(steady), 2),
        "first_frames_ms": [round(v, 1) for v in totals[:3]],
        "greedy_graph_vs_eager": graph_check,
    }
    for name, vals in parts.items():
        if vals:
            result[f"{name}_ms_p50"] = round(pct(vals[5:], 50), 2)
    if device.type == "cuda":
        result["peak_gib_allocated"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        result["peak_gib_reserved"] = round(torch.cuda.max_memory_reserved() / 2**30, 2)
    width = max(map(len, result))
    for key, value in result.items():
        print(f"| {key:<{width}} | {value} |")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
