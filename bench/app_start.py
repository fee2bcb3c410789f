"""Launch to tray: seconds from starting `python -m arcus_desktop` until it prints that it
is running (tray, windows and the instance socket up; torch is never imported by the
GUI process). Each run in fresh data, config and runtime folders.

    python bench/app_start.py [--runs 5] [--app build/dist/arcus-desktop-client/arcus-desktop]

--app: a built (frozen) arcus-desktop instead of this source tree.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARKER = "Arcus Desktop is running."


def one_run(app_exe: str | None = None) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, ARCUS_DATA_DIR=f"{tmp}/data", XDG_CONFIG_HOME=f"{tmp}/config",
                   XDG_RUNTIME_DIR=tmp, HF_HOME=f"{tmp}/hf", PYTHONUNBUFFERED="1")
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
        t0 = time.perf_counter()
        cmd = [app_exe] if app_exe else [sys.executable, "-m", "arcus_desktop"]
        app = subprocess.Popen(cmd, cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            for line in app.stdout:
                if line.strip() == MARKER:
                    return time.perf_counter() - t0
            raise RuntimeError("the app ended without saying it was running")
        finally:
            app.terminate()
            app.wait(20)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--app", help="a built arcus-desktop executable")
    args = ap.parse_args()
    times = [one_run(args.app) for _ in range(args.runs)]
    print(f"launch to running, {args.runs} runs: median {statistics.median(times):.2f} s, "
          f"max {max(times):.2f} s ({', '.join(f'{t:.2f}' for t in times)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
