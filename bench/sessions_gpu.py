"""Many conversations on one GPU: B sessions stepped in lock step, each frame's Mimi
encode, LM step and Mimi decode for all of them captured as one CUDA graph.

Prints, for each batch size, frame time percentiles and GPU memory; --out writes JSON.

    python bench/sessions_gpu.py --sizes 1 8 16 32 40 48
    python bench/sessions_gpu.py --shape tiny --device cpu --sizes 1 2 --frames 10
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from engine_gpu import model_args, pct, random_model, read_wav, sync  # noqa: E402
from moshi.utils.compile import CUDAGraphed  # noqa: E402

from arcus_desktop.engine import constants as C, generator  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@torch.no_grad()
def run_size(lm, mimi, plan, state, pcm, batch: int, frames: int, device) -> dict:
    with generator.Generator(lm, batch) as gen, mimi.streaming(batch):
        for row in range(batch):
            gen.restore(row, state)

        def frame(x):
            codes = mimi.encode(x)  # [B, 8, 1]
            out = gen.advance(codes[:, :, 0])
            return mimi.decode(out.frames[:, C.MODEL_AUDIO, None])

        graphed = CUDAGraphed(frame, disable=device.type != "cuda")
        times = []
        for i in range(frames):
            # Each session hears the recording from its own starting point.
            starts = [(i + 37 * b) % (pcm.size // C.FRAME_SIZE) for b in range(batch)]
            x = np.stack([pcm[s * C.FRAME_SIZE:(s + 1) * C.FRAME_SIZE] for s in starts])
            t = time.perf_counter()
            out = graphed(torch.from_numpy(x).to(device)[:, None])
            out.cpu()
            times.append((time.perf_counter() - t) * 1e3)
        steady = times[10:]
        peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else 0.0
        # A new persona joining the running batch: how long the others wait for it.
        sync(device)
        t = time.perf_counter()
        gen.start(batch - 1, plan)
        sync(device)
        join_ms = (time.perf_counter() - t) * 1e3
        t = time.perf_counter()
        gen.restore(batch - 1, state)
        sync(device)
        rejoin_ms = (time.perf_counter() - t) * 1e3
    return {"sessions": batch, "frame_ms_p50": round(pct(steady, 50), 2),
            "frame_ms_p99": round(pct(steady, 99), 2), "frame_ms_max": round(max(steady), 2),
            "peak_gib": round(peak, 2), "new_persona_start_ms": round(join_ms, 1),
            "cached_persona_start_ms": round(rejoin_ms, 1)}


def main() -> int:
    ap = argparse.ArgumentParser()
    model_args(ap)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1, 8, 16, 32, 40, 48])
    ap.add_argument("--frames", type=int, default=110)
    ap.add_argument("--out")
    args = ap.parse_args()
    device = torch.device(args.device)
    lm, mimi = random_model(args.shape, device)
    g = torch.Generator().manual_seed(1)
    plan = generator.plan_prompt(
        lm, torch.randint(4, lm.text_card, (200,), generator=g).tolist(),
        voice_codes=torch.randint(0, 2048, (125, 8), generator=g))
    with generator.Generator(lm, 1) as gen:
        gen.start(0, plan)
        state = gen.snapshot(0)
    sync(device)
    weights = torch.cuda.memory_allocated() / 2**30 if device.type == "cuda" else 0.0
    pcm = read_wav(Path(args.wav))
    rows = []
    for batch in args.sizes:
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        try:
            row = run_size(lm, mimi, plan, state, pcm, batch, args.frames, device)
            row["gib_per_session"] = round((row["peak_gib"] - weights) / batch, 3)
        except torch.cuda.OutOfMemoryError:
            row = {"sessions": batch, "result": "out of GPU memory"}
        rows.append(row)
        print(json.dumps(row), flush=True)
    result = {"device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
              "torch": torch.__version__, "date": time.strftime("%Y-%m-%d"),
              "weights_and_caches_gib": round(weights, 2), "rows": rows}
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
