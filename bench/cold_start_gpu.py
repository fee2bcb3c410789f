"""Cold start: from launch to ready (model loaded and warmed up) with the weights on
local disk, for PersonaPlex-7B's real shape with random weights.

Writes a full-size checkpoint folder in the real layout first (about 17 GB), tries to
drop the page cache so the weights really come from disk, then times a fresh process:
imports, loading ("ready"), warm-up, and a first conversation's first frame. Per mode
(`--modes`): an 8-bit mode's first load writes its packed copy (engine/packed.py, in
ARCUS_CACHE_DIR) and every later one reads it; per `--direct` setting of the reader
(weights.py: 0 = always through the page cache, auto = around it when not cached).

    python bench/cold_start_gpu.py --dir /tmp/arcus-cold --modes bf16 fp8 --direct 0 auto
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))
os.environ.setdefault("NO_TORCH_COMPILE", "1")

CHILD = r"""
import json, os, sys, time
t0 = time.perf_counter()
from arcus_desktop.engine.engine import Engine
import torch
t1 = time.perf_counter()
compiles = {}  # Triton kernel -> [compiles in this process, seconds]
try:
    from triton.runtime.jit import JITFunction
    _compile = JITFunction._do_compile
    def _timed(self, *a, **k):
        t = time.perf_counter()
        try:
            return _compile(self, *a, **k)
        finally:
            c = compiles.setdefault(self.fn.__name__, [0, 0.0])
            c[0] += 1
            c[1] = round(c[1] + time.perf_counter() - t, 2)
    JITFunction._do_compile = _timed
except (ImportError, AttributeError):
    compiles = None
folder, mode = sys.argv[1], sys.argv[2]
if len(sys.argv) > 3:  # where to write a profile of the load
    import cProfile, io, pstats
    prof = cProfile.Profile()
    prof.enable()
engine = Engine.load(folder, "cuda", quant_mode=mode)
torch.cuda.synchronize()
if len(sys.argv) > 3:
    prof.disable()
    text = io.StringIO()
    pstats.Stats(prof, stream=text).sort_stats("cumulative").print_stats(40)
    open(sys.argv[3], "w").write(text.getvalue())
t2 = time.perf_counter()  # "ready": the app's engine says so here and warms up after
from arcus_desktop.engine import fused
ahead = fused._ahead  # kernel_warmup.Compiling, while the kernels are compiled in a child
child_busy_at_ready = ahead is not None and any(p.poll() is None for p in ahead.procs)
copy = engine.loaded.copy
if copy is not None and copy.writer is not None:
    copy.writer.join()  # the first load in this mode writes the packed copy: wait for it
t_written = time.perf_counter()
engine.warm_up(sampling=None, keep=True)
torch.cuda.synchronize()
t3 = time.perf_counter()
# A click right after the warm-up: the first conversation's first frame of audio.
import numpy as np
from arcus_desktop.core.persona import Persona
from arcus_desktop.engine import constants as C
from arcus_desktop.engine.frame_loop import FrameLoop
from arcus_desktop.engine.generator import Sampling
t4 = time.perf_counter()
prepared = engine.prepare(Persona(text="Hello.", voice=engine.voices.names()[0]))
with FrameLoop(engine, prepared, Sampling(greedy=True), keep_warm=True) as loop:
    loop.process(np.zeros(C.FRAME_SIZE, dtype=np.float32))
    t5 = time.perf_counter()
print(json.dumps({"mode": mode, "direct_io": os.environ.get("ARCUS_DIRECT_IO", "auto"),
                  "import_s": round(t1 - t0, 2), "load_s": round(t2 - t1, 2),
                  "launch_to_ready_s": round(t2 - t0, 2),
                  "packed_copy_read": bool(copy and copy.used),
                  "packed_copy_write_s": round(t_written - t2, 2) if copy and copy.writer else None,
                  "warm_up_s": round(t3 - t_written, 2),
                  "launch_to_warm_s": round(t3 - t0 - (t_written - t2), 2),
                  "first_conversation_first_audio_ms": round((t5 - t4) * 1e3, 1),
                  "gpu_gib": round(torch.cuda.memory_allocated() / 2**30, 2),
                  "compile_children": len(ahead.procs) if ahead is not None else None,
                  "children_busy_at_ready": child_busy_at_ready,
                  "marker": ahead.marker.exists() if ahead is not None else None,
                  "warm_up_waited_for_child_s": ahead and round(ahead.waited_s, 2),
                  "triton_compiles": compiles}))
"""

def write_checkpoint(folder: Path) -> float:
    import torch
    from engine_gpu import random_lm, random_mimi

    from arcus_desktop.engine import constants as C, testkit

    t = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    dev = torch.device("cuda")
    lm = random_lm(dict(C.PERSONAPLEX_LM_KWARGS), dev, torch.bfloat16)  # 16 depformer steps
    testkit.save_lm(lm, folder / C.LM_FILE)
    mimi = random_mimi(None, dev)
    testkit.save_mimi(mimi, folder / C.MIMI_FILE)
    testkit._write_tokenizer(folder / C.TOKENIZER_FILE)
    testkit.write_voices(folder / C.VOICES_FILE, lm, mimi, names=("NATF2",))
    (folder / C.CONFIG_FILE).write_text("{}\n")  # no overrides: PersonaPlex-7B's shape
    del lm, mimi
    torch.cuda.empty_cache()
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default="/tmp/arcus-cold")
    ap.add_argument("--reuse", action="store_true", help="keep a checkpoint written earlier")
    ap.add_argument("--modes", nargs="+", default=["bf16"])
    ap.add_argument("--direct", nargs="+", default=["auto"], choices=("0", "1", "auto"))
    ap.add_argument("--libraries-warm", action="store_true",
                    help="also the case with torch's libraries cached and the weights not")
    ap.add_argument("--kernels", action="store_true", help=(
        "instead: a first start after installing (Triton's cache empty) with the kernels "
        "compiled in a child during the load (engine/kernel_warmup.py) and without, then "
        "the next start"))
    ap.add_argument("--out")
    ap.add_argument("--profile", help="write a cProfile of each load to this prefix")
    args = ap.parse_args()
    folder = Path(args.dir)
    os.environ.setdefault("ARCUS_CACHE_DIR", str(folder.parent / "arcus-cache"))
    reuse = args.reuse and (folder / "config.json").is_file()
    result = {"commit": os.environ.get("COMMIT", "?"), "date": time.strftime("%Y-%m-%d %H:%M"),
              "write_s": None if reuse else round(write_checkpoint(folder), 1),
              "lm_file_gb": round((folder / "model.safetensors").stat().st_size / 1e9, 2)}
    if args.kernels:
        for mode in args.modes:
            compile_ahead(result, folder, mode)
        report(result, args.out)
        return 0
    for mode in args.modes:
        if mode in ("fp8", "int8"):  # its first load writes the packed copy the runs read
            result[f"{mode}: first load"] = run_child(CHILD, str(folder), mode)
        packed = list((Path(os.environ["ARCUS_CACHE_DIR"]) / "packed").glob(f"{mode}-*"))
        result[f"{mode}: packed copy gb"] = round(packed[0].stat().st_size / 1e9, 2) if packed else None
        runs = [(f"cold, direct {d}", True, False, d) for d in args.direct]
        if args.libraries_warm:
            runs.append(("weights cold, libraries warm", True, True, args.direct[-1]))
        runs.append(("warm page cache", False, False, args.direct[-1]))
        for run, drop, warm_libs, direct in runs:
            if drop:
                result[f"{mode}: {run}: page cache dropped"] = subprocess.run(
                    "sync && echo 3 > /proc/sys/vm/drop_caches", shell=True,
                    capture_output=True).returncode == 0
            if warm_libs:
                run_child("import json, arcus_desktop.engine.engine, torch; "
                          "torch.zeros(1, device='cuda'); print('{}')")
            extra = [f"{args.profile}-{mode}-{run.split(',')[0]}.txt"] if args.profile else []
            env = {} if direct == "auto" else {"ARCUS_DIRECT_IO": direct}
            result[f"{mode}: {run}"] = run_child(CHILD, str(folder), mode, *extra, env=env)
            print(json.dumps({f"{mode}: {run}": result[f"{mode}: {run}"]}), flush=True)
    report(result, args.out)
    return 0


def compile_ahead(result: dict, folder: Path, mode: str) -> None:
    """Launch to ready and to warm with Triton's cache empty, the kernels compiled in a
    child while the weights are read or not (ARCUS_COMPILE_AHEAD), then a start on the
    cache that run filled (no child: its marker is there). Page cache warm: the load is
    at its fastest, so the child has the least time to finish within it."""
    import tempfile

    if mode in ("fp8", "int8"):  # the packed copy written first, as every later start has it
        run_child(CHILD, str(folder), mode)
    for ahead in ("0", "1"):
        cache = tempfile.mkdtemp(prefix="triton-")
        for run in ("first start", "next start"):
            env = {"TRITON_CACHE_DIR": cache, "ARCUS_COMPILE_AHEAD": ahead}
            key = f"{mode}: compile ahead {ahead}: {run}"
            result[key] = run_child(CHILD, str(folder), mode, env=env)
            print(json.dumps({key: result[key]}), flush=True)


def run_child(code: str, *args: str, env: dict | None = None) -> dict | str:
    """Run `code` in a fresh Python; its last stdout line as JSON, or what went wrong."""
    env = dict(os.environ, **(env or {}),
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                         env=env)
    line = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
    return json.loads(line) if line.startswith("{") else (out.stderr[-3000:] or "no output")


def report(result: dict, out: str | None) -> None:
    print(json.dumps(result, indent=1))
    if out:
        Path(out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    raise SystemExit(main())
