"""CPU offload on PersonaPlex-7B's real shape (random weights): the main transformer's
layers stay in page-locked host memory and cross PCIe every frame (engine/offload.py).

Each run is a fresh process with its allocator capped (as bench/lowmem_gpu.py does):
load from a checkpoint in the real layout, time the copies alone (one frame's layers,
host to GPU, over the model's own host memory and slots: the PCIe bandwidth in this
run), then hold a conversation over a real recording through the frame loop. Prints one
table: measured frame time next to the copy-bound prediction (bytes per frame / measured
bandwidth), and peak GPU memory.

    python bench/offload_gpu.py --dir /tmp/arcus-cold [--reuse] --out offload.json
    python bench/offload_gpu.py --device cpu --frames 15    # smoke test on the tiny model
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))
os.environ.setdefault("NO_TORCH_COMPILE", "1")

from cold_start_gpu import report, run_child, write_checkpoint  # noqa: E402

RUN = r"""
import json, sys, time, wave
import numpy as np
import torch
mode, cap_gib, context, folder, wav, frames, graphs, device = (
    sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], int(sys.argv[6]),
    sys.argv[7] == "graphs", sys.argv[8])
cuda = device == "cuda"
if cuda:
    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.set_per_process_memory_fraction(cap_gib * 2**30 / total)
from arcus_desktop.core.persona import Persona
from arcus_desktop.engine import constants as C, offload
from arcus_desktop.engine.engine import Engine
from arcus_desktop.engine.frame_loop import FrameLoop

def sync():
    if cuda:
        torch.cuda.synchronize()

t = time.perf_counter()
engine = Engine.load(folder, device, quant_mode=mode, context=context or None, user_words=False)
sync()
load_s = time.perf_counter() - t
gpu_gib = torch.cuda.memory_allocated() / 2**30 if cuda else 0.0
stream = offload.stream_of(engine.lm)

# The copies alone: one frame's layers from host memory into the two slots, in order.
def copy_pass():
    for i in range(stream.layers):
        stream.slots[i % 2].copy_(stream.host.tensor[i], non_blocking=cuda)
passes = []
side = torch.cuda.Stream() if cuda else None
for _ in range(6):
    sync()
    t = time.perf_counter()
    if cuda:
        with torch.cuda.stream(side):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record(side)
            copy_pass()
            end.record(side)
        end.synchronize()
        passes.append(start.elapsed_time(end) / 1e3)
    else:
        copy_pass()
        passes.append(time.perf_counter() - t)
copy_s = float(np.median(passes[1:]))

if wav != "-":
    with wave.open(wav) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768
else:
    pcm = np.zeros(C.FRAME_SIZE * frames, np.float32)
prepared = engine.prepare(Persona())
times = []
with FrameLoop(engine, prepared, cuda_graphs=graphs) as loop:
    for i in range(min(frames, pcm.size // C.FRAME_SIZE)):
        times.append(loop.process(pcm[i * C.FRAME_SIZE:(i + 1) * C.FRAME_SIZE]).compute_ms)
    persona_ms = loop.prefill_ms
steady = times[10:]
print(json.dumps({"mode": mode, "graphs": graphs, "cap_gib": cap_gib, "context": engine.lm.context,
    "load_s": round(load_s, 1), "gpu_weights_gib": round(gpu_gib, 2),
    "host_gib": round(stream.host_bytes / 2**30, 2), "pinned": cuda and bool(stream.host.tensor.is_pinned()),
    "frame_bytes": stream.frame_bytes, "copy_pass_ms": round(copy_s * 1e3, 1),
    "copy_gb_s": round(stream.frame_bytes / copy_s / 1e9, 1),
    "predicted_ms": round(copy_s * 1e3, 1), "persona_ms": round(persona_ms, 1),
    "frames": len(steady), "p50_ms": round(float(np.percentile(steady, 50)), 1),
    "p99_ms": round(float(np.percentile(steady, 99)), 1),
    "peak_allocated_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
    "peak_reserved_gib": round(torch.cuda.max_memory_reserved() / 2**30, 2) if cuda else None}))
"""

COLUMNS = [("mode", "mode"), ("graphs", "graph"), ("cap_gib", "cap GiB"), ("context", "context"),
           ("load_s", "load s"), ("gpu_weights_gib", "GPU weights GiB"), ("host_gib", "host GiB"),
           ("copy_gb_s", "copy GB/s"), ("predicted_ms", "predicted ms"), ("p50_ms", "p50 ms"),
           ("p99_ms", "p99 ms"), ("peak_allocated_gib", "peak alloc GiB"),
           ("peak_reserved_gib", "peak reserved GiB")]


def table(runs: list) -> str:
    lines = ["| " + " | ".join(title for _, title in COLUMNS) + " |",
             "|" + "---|" * len(COLUMNS)]
    for run in runs:
        if isinstance(run, dict):
            lines.append("| " + " | ".join(str(run.get(key)) for key, _ in COLUMNS) + " |")
        else:  # the child failed: its error output
            lines.append(f"| failed: {run.strip().splitlines()[-1] if run.strip() else run} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default="/tmp/arcus-cold")
    ap.add_argument("--reuse", action="store_true")
    ap.add_argument("--device", default="cuda", help="cpu: a smoke test on the tiny model")
    ap.add_argument("--wav", default=str(ROOT / ".bench" / "input_assistant.wav"),
                    help="- for silence")
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--runs", nargs="+",
                    default=["offload:4:1500:graphs", "offload:4:1500:eager",
                             "offload-bf16:5:1500:graphs", "offload:3.25:1500:graphs"],
                    help="mode:GiB cap:context frames (0 = the model's 3000):graphs or eager")
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.device == "cpu":
        from arcus_desktop.engine import testkit

        folder = testkit.write(Path(tempfile.mkdtemp()) / "tiny")
    else:
        folder = Path(args.dir)
        if not (args.reuse and (folder / "config.json").is_file()):
            write_checkpoint(folder)
    wav = args.wav if args.wav == "-" or Path(args.wav).is_file() else "-"
    runs = [run_child(RUN, *r.split(":")[:3], str(folder), wav, str(args.frames), r.split(":")[3],
                      args.device) for r in args.runs]
    report({"runs": runs, "wav": wav}, args.out)
    print(table(runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
