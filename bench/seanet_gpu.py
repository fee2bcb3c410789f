"""Mimi's lean SEANet pass kernel by kernel (issue 20, item 1): each conv_unfold and
convtr_fold call of one frame timed by torch.profiler, with its layer's shape, for a few
tile sizes; and moshi's SEANet against the lean one, frame time of encoder + decoder.

    PYTHONPATH=/tmp/site python3 bench/seanet_gpu.py
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("NO_TORCH_COMPILE", "1")

import torch  # noqa: E402
from moshi.models import loaders  # noqa: E402

from arcus_desktop.engine import seanet_lean, testkit  # noqa: E402


def frame(mimi, x):
    latent = mimi.encoder(x)
    return mimi.decoder(mimi.upsample(mimi.downsample(latent)))


def timed(mimi, x, n=50) -> float:
    torch.cuda.synchronize()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        frame(mimi, x)
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1e3)
    return sorted(times)[n // 2]


def kernels(mimi, x) -> list:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        frame(mimi, x)
        torch.cuda.synchronize()
    return [(e.name, e.device_time_total) for e in prof.events()
            if e.device_type.name == "CUDA" and e.name in ("conv_unfold", "convtr_fold")]


def main() -> int:
    torch.manual_seed(0)
    dev = torch.device("cuda")
    mimi = loaders.get_mimi(None, None, device=dev, num_codebooks=8).eval()
    testkit.randomize_codebooks(mimi)
    seanet_lean.install(mimi)
    x = torch.randn(1, 1, 1920, device=dev) * 0.1
    print(torch.cuda.get_device_name(), torch.__version__)
    with torch.no_grad(), mimi.streaming(1):
        for lean in (False, True):
            seanet_lean.ENABLED = lean
            for _ in range(5):
                frame(mimi, x)
            print(f"{'lean' if lean else 'moshi'}: encoder + decoder, eager, p50 {timed(mimi, x):.3f} ms")
        best = None
        for tile in ((64, 64, 4), (32, 32, 4), (16, 32, 4), (32, 16, 2), (16, 16, 1), (16, 16, 2),
                     (32, 64, 8)):
            seanet_lean.TILE = tile
            for _ in range(3):
                frame(mimi, x)
            calls = kernels(mimi, x)
            total = sum(us for _, us in calls)
            best = min(best or (total, tile), (total, tile))
            print(f"tile {tile}: {len(calls)} calls {total:.1f} us; p50 frame {timed(mimi, x):.3f} ms; per call "
                  + " ".join(f"{us:.0f}" for _, us in calls))
    print(",".join(map(str, best[1])))  # the best tile, for bench/fused_gpu.py --seanet-tile
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
