"""Low-memory modes on PersonaPlex-7B's real shape (random weights): int8 and fp8 within
10 GiB and 4-bit within 6 GiB of GPU memory (bf16 beside them as the baseline), each in a
fresh process capped to its budget (torch's allocator limit), loading from a checkpoint in the real layout and holding a
conversation over a real recording; then the quantization error against bf16,
teacher-forced (bench/README in docs/PERFORMANCE.md).

    python bench/lowmem_gpu.py --dir /tmp/arcus-cold [--reuse] --out lowmem.json
"""

from __future__ import annotations

import argparse
import os
import sys
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
mode, cap_gib, context, folder, wav, frames = (sys.argv[1], float(sys.argv[2]), int(sys.argv[3]),
                                               sys.argv[4], sys.argv[5], int(sys.argv[6]))
total = torch.cuda.get_device_properties(0).total_memory
torch.cuda.set_per_process_memory_fraction(cap_gib * 2**30 / total)
from arcus_desktop.core.persona import Persona
from arcus_desktop.engine import constants as C
from arcus_desktop.engine.engine import Engine
from arcus_desktop.engine.frame_loop import FrameLoop
t = time.perf_counter()
engine = Engine.load(folder, "cuda", quant_mode=mode, context=context or None)
torch.cuda.synchronize()
load_s = time.perf_counter() - t
if engine.loaded.copy is not None and engine.loaded.copy.writer is not None:
    engine.loaded.copy.writer.join()  # the packed copy's first write: not during the frames
weights_gib = torch.cuda.memory_allocated() / 2**30
with wave.open(wav) as w:
    pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768
prepared = engine.prepare(Persona())
times = []
with FrameLoop(engine, prepared) as loop:
    for i in range(min(frames, pcm.size // C.FRAME_SIZE)):
        times.append(loop.process(pcm[i * C.FRAME_SIZE:(i + 1) * C.FRAME_SIZE]).compute_ms)
    persona_ms = loop.prefill_ms
steady = times[10:]
print(json.dumps({"mode": mode, "cap_gib": cap_gib, "context": engine.lm.context, "load_s": round(load_s, 1),
    "weights_gib": round(weights_gib, 2), "persona_ms": round(persona_ms, 1),
    "frames": len(steady), "p50_ms": round(float(np.percentile(steady, 50)), 1),
    "p99_ms": round(float(np.percentile(steady, 99)), 1),
    "peak_allocated_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
    "peak_reserved_gib": round(torch.cuda.max_memory_reserved() / 2**30, 2)}))
"""

ERROR = r"""
import json, sys, torch
from arcus_desktop.engine import checkpoint, model, quant, quant_error, quant_kernels as K
files = checkpoint.locate(sys.argv[1])
ref = model.load(files, torch.device("cuda")).lm
f32 = model.load(files, torch.device("cuda"), dtype=torch.float32).lm
# The floor: bf16 itself against float32, through the same random 32-layer network.
out = {"bf16_vs_f32": quant_error.measure(f32, ref, frames=64).__dict__}
del f32
torch.cuda.empty_cache()
w = ref.transformer.layers[0].gating.linear_in.weight
for mode in sys.argv[2].split(","):
    q = model.load(files, torch.device("cuda"), quant_mode=mode).lm
    out[mode] = quant_error.measure(ref, q, frames=64).__dict__
    layer = quant.QuantLinear(*w.shape, mode, w.dtype, device="cuda")
    layer.codes, layer.scales = quant.quantize(w, mode)
    out[mode]["weight_rel"] = float((layer.weight.float() - w.float()).norm() / w.float().norm())
    if mode == "fp8":
        # 64 rows go through cuBLAS's fp8 matmul (activations in fp8 too); a conversation's
        # one row through the GEMV (activations kept in bf16): measure that path as well.
        saved, K.FP8_GEMV_MAX_ELEMENTS = K.FP8_GEMV_MAX_ELEMENTS, 2**62
        out["fp8_gemv"] = quant_error.measure(ref, q, frames=64).__dict__
        K.FP8_GEMV_MAX_ELEMENTS = saved
    del q
    torch.cuda.empty_cache()
print(json.dumps(out))
"""


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default="/tmp/arcus-cold")
    ap.add_argument("--reuse", action="store_true")
    ap.add_argument("--wav", default=str(ROOT / ".bench" / "input_assistant.wav"))
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--modes", nargs="+", default=["int8:10:0", "int8:10:2000", "int4:6:1500", "int4:6:1000"],
                    help="mode:GiB cap:context frames (0 = the model's 3000)")
    ap.add_argument("--skip-error", action="store_true")
    ap.add_argument("--error-modes", default="fp8,int8,int4")
    ap.add_argument("--out")
    args = ap.parse_args()
    folder = Path(args.dir)
    if not (args.reuse and (folder / "config.json").is_file()):
        write_checkpoint(folder)
    result = {"runs": [run_child(RUN, *m.split(":"), str(folder), args.wav, str(args.frames))
                       for m in args.modes]}
    if not args.skip_error:
        result["error"] = run_child(ERROR, str(folder), args.error_modes)
    report(result, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
