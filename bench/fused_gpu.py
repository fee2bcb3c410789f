"""The fused kernels of the lean passes (engine/fused.py) and Mimi's lean transformer pass
(engine/mimi_lean.py) against the passes before them, in one process on one model: PersonaPlex-7B's full shape with random weights, the frame as
the app runs it (FrameLoop: Mimi encode, step, Mimi decode, copy to host, one CUDA
graph). Variants run interleaved (before, fused, fused + lean Mimi, before, ...) so drift
of the GPU's clocks hits all alike. Also: the kernels in one replay of each variant's frame graph (torch
profiler), and how far greedy tokens from the same state agree between the variants
(GPU kernels are not bitwise reproducible; two runs before are the yardstick).

    PYTHONPATH=/tmp/site NO_TORCH_COMPILE=1 python3 bench/fused_gpu.py --out $OUT
    python bench/fused_gpu.py --shape tiny --device cpu --frames 4 --rounds 1  # smoke
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))
os.environ.setdefault("NO_TORCH_COMPILE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from engine_gpu import build, model_args, pct, read_wav, report, sync  # noqa: E402

from arcus_desktop.engine import constants as C  # noqa: E402
from arcus_desktop.engine import fused, generator, mimi_lean, rvq_lean, seanet_lean  # noqa: E402
from arcus_desktop.engine.frame_loop import FrameLoop  # noqa: E402


def frames(engine, prepared, pcm, n: int) -> list[float]:
    """Frame times (ms) of a conversation of n frames."""
    times = []
    with FrameLoop(engine, prepared()) as loop:
        for i in range(n):
            res = loop.process(pcm[i * C.FRAME_SIZE:(i + 1) * C.FRAME_SIZE])
            times.append(res.compute_ms)
        first = loop.gen.lm.transformer.layers[0].self_attn._streaming_state
        print(f"  ring after the conversation: {int(first.kv_cache.end_offset[0])} positions written")
    return times


def kernels_of(engine, prepared, pcm) -> int:
    """Kernels in one graph replay of the frame. Only after every timed round: once the
    profiler has run in a process, every later frame is slower (up to ~1 ms on the H100,
    run of 2026-12-07 21:50)."""
    engine.release_loop()
    with FrameLoop(engine, prepared()) as loop:
        for i in range(3):
            loop.process(pcm[i * C.FRAME_SIZE:(i + 1) * C.FRAME_SIZE])
        return count_kernels(loop, pcm, engine.device)


def count_kernels(loop, pcm, device) -> int:
    if device.type != "cuda":
        return 0
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        loop.process(pcm[:C.FRAME_SIZE])
        sync(device)
    return sum(1 for e in prof.events() if e.device_type.name == "CUDA" and "Memcpy" not in e.name)


# (fused kernels, the trunk's ring attention, Mimi's lean pass, the sampling kernel,
# fused.linear in the depformer, in Mimi's transformers, in the trunk, Mimi's quantizer
# in rvq_lean's kernels, its convolutions in seanet_lean's, programmatic dependent launch,
# the trunk's out projection in fused.linear)
VARIANTS = {"before": (False, False, False, False, False, False, False, False, False, False, False),
            "fused_sdpa": (True, False, False, False, False, False, False, False, False, False, False),
            "fused": (True, True, False, False, False, False, False, False, False, False, False),
            "fused_lean_mimi": (True, True, True, False, False, False, False, False, False, False, False),
            "fused_sample": (True, True, True, True, False, False, False, False, False, False, False),
            "fused_linear_dep": (True, True, True, True, True, False, False, False, False, False, False),
            "fused_linear": (True, True, True, True, True, True, False, False, False, False, False),
            "fused_trunk_linear": (True, True, True, True, True, True, True, False, False, False, False),
            "lean_rvq": (True, True, True, True, True, True, False, True, False, False, False),
            "lean_seanet": (True, True, True, True, True, True, False, True, True, False, False),
            "pdl": (True, True, True, True, True, True, False, True, True, True, False),
            "trunk_out": (True, True, True, True, True, True, False, True, True, True, True)}


def use(name: str) -> None:
    (fused.ENABLED, fused.RING_ATTENTION, mimi_lean.ENABLED, fused.SAMPLE, fused.LINEAR,
     mimi_lean.LINEAR, fused.TRUNK_LINEAR, rvq_lean.ENABLED, seanet_lean.ENABLED,
     fused.PDL, fused.TRUNK_OUT_LINEAR) = VARIANTS[name]


def fill_ring(engine, prepared, positions: int) -> None:
    """The persona's cached state padded with random keys and values to `positions`, so
    conversations start with the ring that full (a long conversation's frames)."""
    with engine.generator(1) as g:
        g.start(0, prepared().plan)
        state = g.snapshot(0)
    gen = torch.Generator(device=engine.device).manual_seed(2)
    kv = []
    for layer in state.keys_values:
        extra = positions - layer.shape[2]
        pad = torch.randn(2, layer.shape[1], extra, layer.shape[3], device=engine.device, generator=gen)
        kv.append(torch.cat([layer, (pad * layer.float().std()).to(layer.dtype)], dim=2))
    engine.persona_states.put(prepared().key, generator.PersonaState(kv, state.cur, state.carry))


def agreement(engine, prepared, codes, names=("before", "fused", "before", "fused")) -> list:
    """Greedy LM tokens from the same state (same codes in), one run per variant named."""
    runs = []
    for name in names:
        use(name)
        with engine.generator(1, generator.Sampling(greedy=True)) as g:
            g.start(0, prepared().plan)
            runs.append([g.step(c).frames[0].tolist() for c in codes])
    return runs


def equal_steps(a, b) -> int:
    same = [x == y for x, y in zip(a, b)]
    return same.index(False) if False in same else len(same)


def main() -> int:
    ap = argparse.ArgumentParser()
    model_args(ap)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--ring-start", type=int, default=0,
                    help="positions in the ring when each conversation starts (0: the persona's)")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--seanet-tile", help="seanet_lean.TILE as t,c,warps (bench/seanet_gpu.py's best)")
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.seanet_tile:
        seanet_lean.TILE = tuple(int(v) for v in args.seanet_tile.split(","))
    device = torch.device(args.device)
    torch.manual_seed(0)
    _, mimi, engine, prepared = build(args.shape, device)
    pcm = read_wav(Path(args.wav))
    n = min(args.frames, pcm.size // C.FRAME_SIZE)
    if args.ring_start:  # a persona with a key is restored from the persona cache
        plain = prepared
        prepared = lambda: dataclasses.replace(plain(), key="bench")  # noqa: E731
        fill_ring(engine, prepared, args.ring_start)
    results = {name: [] for name in args.variants}
    kernels = {}
    for _ in range(args.rounds):
        for name in args.variants:
            use(name)
            engine.release_loop()
            times = frames(engine, prepared, pcm, n)
            results[name] += times[args.warmup:]
            print(f"{name}: p50 {pct(times[args.warmup:], 50):.2f} ms", flush=True)
    for name in args.variants:
        use(name)
        kernels[name] = kernels_of(engine, prepared, pcm)
    use("before")
    engine.release_loop()
    with torch.no_grad(), mimi.streaming(1):
        codes = [mimi.encode(torch.from_numpy(pcm[i * C.FRAME_SIZE:(i + 1) * C.FRAME_SIZE].copy())
                             .to(device)[None, None])[:, :, 0] for i in range(40)]
    runs = agreement(engine, prepared, codes)
    out = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "commit": os.environ.get("COMMIT", "?"),
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "fused_available": fused.available(device),
        "frames_per_round": n - args.warmup,
        "rounds": args.rounds,
        "ring_start": args.ring_start,
        "seanet_tile": list(seanet_lean.TILE),
    }
    for name, v in results.items():
        out[name] = {"p50_ms": round(pct(v, 50), 2), "p99_ms": round(pct(v, 99), 2),
                     "max_ms": round(max(v), 2), "kernels_per_frame": kernels[name]}
    out["greedy_equal_steps_of_40"] = {
        "before_vs_fused": equal_steps(runs[0], runs[1]),
        "before_vs_before": equal_steps(runs[0], runs[2]),
        "fused_vs_fused": equal_steps(runs[1], runs[3]),
    }
    if "pdl" in args.variants:  # the same arithmetic launched otherwise: the same tokens
        pdl = agreement(engine, prepared, codes, ("lean_seanet", "pdl", "trunk_out"))
        out["greedy_equal_steps_of_40"]["pdl_vs_not"] = equal_steps(*pdl[:2])
        out["greedy_equal_steps_of_40"]["trunk_out_vs_pdl"] = equal_steps(*pdl[1:])
    report(out, args.out, "fused_gpu.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
