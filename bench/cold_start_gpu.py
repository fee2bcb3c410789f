"""Cold start: from launch to ready (model loaded and warmed up) with the weights on
local disk, for PersonaPlex-7B's real shape with random weights.

Writes a full-size checkpoint folder in the real layout first (about 17 GB), tries to
drop the page cache so the weights really come from disk, then times a fresh process:
imports, loading, warm-up.

    python bench/cold_start_gpu.py --dir /tmp/arcus-cold
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
import json, sys, time
t0 = time.perf_counter()
from arcus_desktop.engine.engine import Engine
import torch
t1 = time.perf_counter()
if len(sys.argv) > 2:  # where to write a profile of the load
    import cProfile, io, pstats
    prof = cProfile.Profile()
    prof.enable()
engine = Engine.load(sys.argv[1], "cuda")
torch.cuda.synchronize()
if len(sys.argv) > 2:
    prof.disable()
    text = io.StringIO()
    pstats.Stats(prof, stream=text).sort_stats("cumulative").print_stats(40)
    open(sys.argv[2], "w").write(text.getvalue())
t2 = time.perf_counter()
engine.warm_up()
torch.cuda.synchronize()
t3 = time.perf_counter()
print(json.dumps({"import_s": round(t1 - t0, 2), "load_s": round(t2 - t1, 2),
                  "warm_up_s": round(t3 - t2, 2), "ready_s": round(t3 - t0, 2),
                  "gpu_gib": round(torch.cuda.memory_allocated() / 2**30, 2)}))
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
    ap.add_argument("--out")
    ap.add_argument("--profile", help="write a cProfile of each load to this prefix")
    args = ap.parse_args()
    folder = Path(args.dir)
    reuse = args.reuse and (folder / "config.json").is_file()
    result = {"write_s": None if reuse else round(write_checkpoint(folder), 1),
              "lm_file_gb": round((folder / "model.safetensors").stat().st_size / 1e9, 2)}
    # (drop the page cache first, then import the libraries once so only the weights are cold)
    runs = {"cold": (True, False), "weights cold, libraries warm": (True, True),
            "warm page cache": (False, False)}
    for run, (drop, warm_libs) in runs.items():
        if drop:
            result[f"{run}: page cache dropped"] = subprocess.run(
                "sync && echo 3 > /proc/sys/vm/drop_caches", shell=True, capture_output=True).returncode == 0
        if warm_libs:
            run_child("import json, arcus_desktop.engine.engine, torch; torch.zeros(1, device='cuda'); print('{}')")
        extra = [f"{args.profile}-{run.split(',')[0]}.txt"] if args.profile else []
        result[run] = run_child(CHILD, str(folder), *extra)
    report(result, args.out)
    return 0


def run_child(code: str, *args: str) -> dict | str:
    """Run `code` in a fresh Python; its last stdout line as JSON, or what went wrong."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
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
