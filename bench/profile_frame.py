"""Where the full frame's GPU time goes, kernel by kernel (issue 20, item 1).

The frame as the app runs it (FrameLoop: Mimi encode, the step, Mimi decode, the copy
to the host, one CUDA graph) on PersonaPlex-7B's real shape with random weights,
profiled with torch.profiler over graph replays. Prints, per frame: the frame's wall
time, the kernels' summed time (the rest is the GPU waiting: launches, the copy, the
host), the kernels grouped by kind, and the top kernels by time with their count.

    python3 -m pip install --no-index --no-deps --target /tmp/site .whl/*.whl
    PYTHONPATH=/tmp/site NO_TORCH_COMPILE=1 python3 bench/profile_frame.py --out prof.json
    python bench/profile_frame.py --shape tiny --device cpu --frames 5   # smoke (no kernels)
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))
os.environ.setdefault("NO_TORCH_COMPILE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from engine_gpu import build, model_args, read_wav  # noqa: E402

from arcus_desktop.engine import constants as C  # noqa: E402
from arcus_desktop.engine.engine import Engine, PreparedPersona  # noqa: E402
from arcus_desktop.engine.frame_loop import FrameLoop  # noqa: E402

# First match wins: a kernel's kind from its name.
KINDS = [
    ("attention", r"flash|fmha|attention|sdpa|softmax"),
    ("matmul", r"gemm|gemv|cutlass|xmma|cublas|splitk|sm90_|ampere_|s16816|nvjet"),
    ("convolution", r"conv|cudnn|implicit|winograd"),
    ("normalisation", r"norm|rms"),
    ("sampling", r"topk|sort|multinomial|argmax|radix|cumsum|scan"),
    ("copy / index", r"copy|memcpy|memset|cat|index|gather|scatter|fill|where|masked"),
    ("elementwise / reduce", r"elementwise|vectorized|reduce|unrolled|pointwise"),
]


def kind_of(name: str) -> str:
    low = name.lower()
    for kind, pattern in KINDS:
        if re.search(pattern, low):
            return kind
    return "other"


def frame_engine(shape: str, device: torch.device) -> tuple[Engine, PreparedPersona]:
    torch.manual_seed(0)
    _, _, engine, prepared = build(shape, device)
    return engine, prepared()


def label_parts(engine: Engine) -> list[str]:
    """Wrap the frame's parts in profiler ranges (this process only): Mimi's pieces by
    class (every streaming conv, transposed conv, ELU, resnet block, transformer), the
    quantizer, the trunk, the depformer steps and the sampling."""
    from torch.autograd.profiler import record_function
    from moshi.modules import conv, seanet, transformer

    from arcus_desktop.engine import depformer, generator

    def wrap(label, fn):
        def inner(*a, **k):
            with record_function(label):
                return fn(*a, **k)
        return inner

    mimi = engine.mimi
    parts = {"mimi.encode": (mimi, "encode"), "mimi.decode": (mimi, "decode"),
             "mimi.quantizer.encode": (mimi.quantizer, "encode"),
             "mimi.quantizer.decode": (mimi.quantizer, "decode")}
    for label, (obj, name) in parts.items():
        setattr(obj, name, wrap(label, getattr(obj, name)))
    # Class-level: the lean transformer pass replaces instance forwards, so the
    # transformers are labelled through their wrapper classes' __call__ path.
    classes = {"lm.embed": (generator.Generator, "embed"), "lm.trunk": (generator.Generator, "_trunk"),
               "lm.sampling": (generator.Generator, "_sample"),
               "lm.depformer_step": (depformer.Depformer, "logits"),
               "mimi.conv1d": (conv.StreamingConv1d, "forward"),
               "mimi.conv_transpose1d": (conv.StreamingConvTranspose1d, "forward"),
               "mimi.resnet_block": (seanet.SEANetResnetBlock, "forward"),
               "mimi.seanet_encoder": (seanet.SEANetEncoder, "forward"),
               "mimi.seanet_decoder": (seanet.SEANetDecoder, "forward"),
               "mimi.transformer": (transformer.ProjectedTransformer, "forward"),
               "mimi.elu": (torch.nn.ELU, "forward")}
    for label, (cls, name) in classes.items():
        setattr(cls, name, wrap(label, getattr(cls, name)))
    return list(parts) + list(classes)


def part_table(prof, labels: list[str], frames: int) -> dict:
    """Each range's kernel time, two ways: the CPU range's kernels (those launched inside
    it, children included: torch's device_time_total), and the kernels that start inside
    the range's span on the GPU timeline (summing durations leaves launch gaps out)."""
    cuda = torch.autograd.DeviceType.CUDA
    events = [ev for ev in prof.events() if ev.device_type == cuda]
    kernels = sorted((ev.time_range.start, ev.time_range.elapsed_us()) for ev in events
                     if ev.name not in labels)
    starts = [start for start, _ in kernels]
    span = defaultdict(float)
    for ev in events:
        if ev.name in labels:
            lo = bisect.bisect_left(starts, ev.time_range.start)
            hi = bisect.bisect_right(starts, ev.time_range.end)
            span[ev.name] += sum(d for _, d in kernels[lo:hi])
    launched = defaultdict(lambda: [0.0, 0])
    for ev in prof.events():
        if ev.device_type != cuda and ev.name in labels:
            launched[ev.name][0] += ev.device_time_total
            launched[ev.name][1] += 1
    print("\n| part (eager frame) | kernel ms a frame (launched in the range) | "
          "(GPU span) | calls a frame |\n|---|---|---|---|")
    out = {}
    for label in labels:
        us, n = launched[label]
        out[label] = [round(us / frames / 1e3, 4), round(span[label] / frames / 1e3, 4), n / frames]
        print(f"| {label} | {us / frames / 1e3:.3f} | {span[label] / frames / 1e3:.3f} | {n / frames:.0f} |")
    return out


def profile(loop: FrameLoop, pcm: np.ndarray, first: int, frames: int, cuda: bool,
            labels: list[str]):
    from torch.profiler import ProfilerActivity, profile as torch_profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    walls = []
    with torch_profile(activities=activities) as prof:
        for i in range(first, first + frames):
            t0 = time.perf_counter()
            loop.process(pcm[i * C.FRAME_SIZE:(i + 1) * C.FRAME_SIZE])
            walls.append((time.perf_counter() - t0) * 1e3)
    kernels = defaultdict(lambda: [0.0, 0])  # name -> [total us, count]
    for ev in prof.events():
        if ev.device_type == torch.autograd.DeviceType.CUDA and ev.device_time_total > 0 \
                and ev.name not in labels:
            k = kernels[ev.name]
            k[0] += ev.device_time_total
            k[1] += 1
    return walls, kernels, prof


def table(walls, kernels, frames: int, top: int) -> dict:
    per_frame = {name: (us / frames / 1e3, n / frames) for name, (us, n) in kernels.items()}
    busy = sum(ms for ms, _ in per_frame.values())
    by_kind = defaultdict(lambda: [0.0, 0.0])
    for name, (ms, n) in per_frame.items():
        by_kind[kind_of(name)][0] += ms
        by_kind[kind_of(name)][1] += n
    wall = float(np.median(walls))
    print(f"frame wall p50 {wall:.2f} ms; kernels {busy:.2f} ms a frame "
          f"({sum(n for _, n in per_frame.values()):.0f} launches); GPU idle "
          f"{wall - busy:.2f} ms")
    print("| kind | ms a frame | share of kernel time | kernels a frame |")
    print("|---|---|---|---|")
    for kind, (ms, n) in sorted(by_kind.items(), key=lambda kv: -kv[1][0]):
        print(f"| {kind} | {ms:.3f} | {100 * ms / max(busy, 1e-9):.1f}% | {n:.0f} |")
    print(f"\n| top kernels | ms a frame | calls a frame | kind |")
    print("|---|---|---|---|")
    rows = sorted(per_frame.items(), key=lambda kv: -kv[1][0])[:top]
    for name, (ms, n) in rows:
        short = name if len(name) <= 90 else name[:87] + "..."
        print(f"| `{short}` | {ms:.3f} | {n:.0f} | {kind_of(name)} |")
    return {"frame_wall_ms_p50": round(wall, 3), "kernel_ms_per_frame": round(busy, 3),
            "by_kind": {k: [round(v[0], 4), round(v[1], 1)] for k, v in by_kind.items()},
            "kernels": [[name, round(ms, 4), round(n, 2)] for name, (ms, n) in
                        sorted(per_frame.items(), key=lambda kv: -kv[1][0])]}


def main() -> int:
    ap = argparse.ArgumentParser()
    model_args(ap)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--frames", type=int, default=50)
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--eager", action="store_true", help="also profile without CUDA graphs")
    ap.add_argument("--parts", action="store_true",
                    help="also profile without graphs, the kernel time of each part")
    ap.add_argument("--out")
    args = ap.parse_args()
    device = torch.device(args.device)
    engine, persona = frame_engine(args.shape, device)
    pcm = read_wav(Path(args.wav))
    result = {"device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
              "torch": torch.__version__, "date": time.strftime("%Y-%m-%d"),
              "commit": os.environ.get("COMMIT", "?")}
    labels = label_parts(engine) if args.parts else []
    for graphs in ((True, False) if args.eager or args.parts else (True,)):
        with FrameLoop(engine, persona, cuda_graphs=graphs) as loop:
            for i in range(args.warmup):
                loop.process(pcm[i * C.FRAME_SIZE:(i + 1) * C.FRAME_SIZE])
            walls, kernels, prof = profile(loop, pcm, args.warmup, args.frames, device.type == "cuda", labels)
        label = "graphed" if graphs else "eager"
        print(f"\n## {label} frame, {args.frames} frames, {result['device']}")
        result[label] = table(walls, kernels, args.frames, args.top)
        if labels and not graphs:
            result["parts"] = part_table(prof, labels, args.frames)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
