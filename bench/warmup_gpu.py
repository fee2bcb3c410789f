"""How long the engine's warm-up takes (issue 20): the fused kernels (engine/fused.py) are
compiled by Triton at first use, and its on-disk cache (~/.triton/cache, TRITON_CACHE_DIR)
keeps them for later starts. Times, on PersonaPlex-7B's full shape with random weights:
the per-GPU check of the kernels (`fused.available`), then a warm-up as Engine.warm_up
runs it (a 3-frame silent conversation: streams, every kernel at its real shapes, the
frame's CUDA graph), then a second warm-up in the same process. Run it once with an
empty cache directory (a first start after installing) and again (every later start);
ARCUS_FUSED=0 gives torch's kernels for comparison.

    TRITON_CACHE_DIR=/tmp/tc PYTHONPATH=/tmp/site python3 bench/warmup_gpu.py --out cold.json
"""

from __future__ import annotations

import argparse
import json
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
from engine_gpu import build, sync  # noqa: E402

from arcus_desktop.engine import constants as C  # noqa: E402
from arcus_desktop.engine import fused, generator  # noqa: E402
from arcus_desktop.engine.frame_loop import FrameLoop  # noqa: E402


def warm_up(engine, prepared, device) -> float:
    t0 = time.perf_counter()
    with FrameLoop(engine, prepared(), generator.Sampling()) as loop:
        for _ in range(3):
            loop.process(np.zeros(C.FRAME_SIZE, dtype=np.float32))
    sync(device)
    engine.release_loop()
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", choices=("full", "tiny"), default="full")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--out")
    args = ap.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    _, _, engine, prepared = build(args.shape, device)
    cache = os.environ.get("TRITON_CACHE_DIR", str(Path.home() / ".triton" / "cache"))
    files_before = sum(1 for _ in Path(cache).rglob("*")) if Path(cache).exists() else 0
    t0 = time.perf_counter()
    available = fused.available(device)
    check_s = time.perf_counter() - t0
    first = warm_up(engine, prepared, device)
    second = warm_up(engine, prepared, device)
    out = {"device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
           "date": time.strftime("%Y-%m-%d %H:%M"), "commit": os.environ.get("COMMIT", "?"),
           "fused": available, "cache_files_before": files_before,
           "kernel_check_s": round(check_s, 2), "first_warm_up_s": round(first, 2),
           "second_warm_up_s": round(second, 2)}
    print(json.dumps(out))
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
