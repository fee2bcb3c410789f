"""Where a conversation step's time goes on the GPU (full shape, random weights).

Times with CUDA events: the whole graphed step, the trunk (main transformer) alone and
the depformer alone, each replayed as its own CUDA graph, plus the eager step.

    python bench/profile_step.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from engine_gpu import random_lm  # noqa: E402
from moshi.utils.compile import CUDAGraphed  # noqa: E402

from arcus_desktop.engine import constants as C, generator  # noqa: E402


def timed(fn, n=100, warm=5):
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    out = []
    for _ in range(n):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        out.append(a.elapsed_time(b))
    return float(np.median(out))


@torch.no_grad()
def main() -> None:
    dev = torch.device("cuda")
    lm = random_lm(dict(C.PERSONAPLEX_LM_KWARGS, dep_q=8), dev, torch.bfloat16)
    plan = generator.plan_prompt(lm, list(range(4, 204)), voice_codes=torch.randint(0, 2048, (125, 8)))
    gen = generator.Generator(lm, 1)
    gen.start(0, plan)
    user = torch.randint(0, 2048, (1, 8), device=dev)
    rows = {}
    rows["step (graphed, as used)"] = timed(lambda: gen.step(user))
    forced = torch.full((1, 17), -1, device=dev, dtype=torch.long)
    cur = gen._cur.clone()
    core = CUDAGraphed(gen._core)
    rows["core graph replay only"] = timed(lambda: core(cur, forced))
    x = gen.embed(cur[:, None])
    trunk = CUDAGraphed(gen._trunk)
    rows["trunk graph (32 layers + text head)"] = timed(lambda: trunk(x))
    hidden = torch.randn(1, 1, 4096, device=dev, dtype=torch.bfloat16)

    def depth():
        prev = cur[:, 0]
        with lm.depformer.streaming(1):
            for k in range(8):
                logits = lm.forward_depformer(k, prev[:, None, None], hidden)
                prev = logits[:, 0, 0].argmax(-1)
        return prev
    dg = CUDAGraphed(depth)
    rows["depformer graph (8 steps)"] = timed(lambda: dg())
    gen.close()
    gen2 = generator.Generator(lm, 1, cuda_graphs=False)
    gen2.start(0, plan)
    rows["step eager"] = timed(lambda: gen2.step(user), n=30)
    for k, v in rows.items():
        print(f"| {k:<38} | {v:7.2f} ms |")
    try:
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            for _ in range(3):
                gen2._trunk(x)
                depth()
            torch.cuda.synchronize()
        print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=15))
    except Exception as e:  # profiling is a bonus here
        print("profiler failed:", e)


if __name__ == "__main__":
    main()
