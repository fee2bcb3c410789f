"""The default frame as a user gets it (issue 20, item 1): one process, the app's default
settings, no profiler and no switching between variants, several conversations in a row
(the persona prefilled, then restored from the persona cache, then another persona).
PersonaPlex-7B's full shape with random weights; each frame as FrameLoop runs it (Mimi
encode, step, Mimi decode, copy to host, one CUDA graph).

bench/fused_gpu.py compares variants in one process; this one is the yardstick for the
default alone: in fused_gpu's runs before its kernels were counted after the timed
rounds, every conversation after a torch.profiler pass ran 0.5-1 ms slower a frame.

    PYTHONPATH=/tmp/site NO_TORCH_COMPILE=1 python3 bench/conversations_gpu.py --out $OUT
    python bench/conversations_gpu.py --shape tiny --device cpu --frames 12   # smoke
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
from engine_gpu import build, model_args, pct, read_wav, report  # noqa: E402

from arcus_desktop.engine import constants as C  # noqa: E402
from arcus_desktop.engine.frame_loop import FrameLoop  # noqa: E402

PERSONAS = ("A", "A", "B", "B", "A")  # prefill, restore, prefill, restore, restore


def main() -> int:
    ap = argparse.ArgumentParser()
    model_args(ap)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=10, help="frames of each conversation left out")
    ap.add_argument("--out")
    args = ap.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    _, _, engine, prepared = build(args.shape, device)
    pcm = read_wav(Path(args.wav))
    n = min(args.frames, pcm.size // C.FRAME_SIZE)
    talks, every = [], []
    for key in PERSONAS:
        engine.release_loop()
        times = []
        with FrameLoop(engine, dataclasses.replace(prepared(), key=key)) as loop:
            for i in range(n):
                times.append(loop.process(pcm[i * C.FRAME_SIZE:(i + 1) * C.FRAME_SIZE]).compute_ms)
            cached = loop.persona_cached
        kept = times[args.warmup:]
        every += kept
        talks.append({"persona": key, "from_cache": cached, "p50_ms": round(pct(kept, 50), 2),
                      "p99_ms": round(pct(kept, 99), 2)})
        print(f"conversation {len(talks)} (persona {key}, {'restored' if cached else 'prefilled'}): "
              f"p50 {pct(kept, 50):.2f} ms, p99 {pct(kept, 99):.2f}", flush=True)
    out = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "commit": os.environ.get("COMMIT", "?"),
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "frames_per_conversation": n - args.warmup,
        "conversations": talks,
        "p50_ms": round(pct(every, 50), 2),
        "p99_ms": round(pct(every, 99), 2),
        "max_ms": round(float(np.max(every)), 2),
    }
    report(out, args.out, "conversations_gpu.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
