"""The live loop's own cost per 80 ms frame, without the model, on one CPU core: what
the reader's thread does around each engine step (take the microphone from its ring,
resample 48 kHz → 24 kHz, cancel the echo, resample the reply 24 → 48 kHz, put it in
the playback ring) plus what the PortAudio callback does (two ring copies).

    python bench/realtime_loop.py [--frames 500] [--rate 48000]
"""

from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import soxr  # noqa: E402

from arcus_desktop.audio.echo import EchoCanceller  # noqa: E402
from arcus_desktop.audio.files import read_mono  # noqa: E402
from arcus_desktop.audio.ring import Ring  # noqa: E402

FRAME, RATE = 1920, 24_000


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=500)
    ap.add_argument("--rate", type=int, default=48_000, help="the device's rate")
    ap.add_argument("--no-echo", action="store_true")
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    speech = read_mono(ROOT.parent / "shared" / "audio" / "input_assistant.wav", args.rate)
    reply = read_mono(ROOT.parent / "shared" / "audio" / "input_service.wav", RATE)
    capture, playback = Ring(args.rate * 2), Ring(args.rate * 2)
    to_engine = soxr.ResampleStream(args.rate, RATE, 1, dtype="float32")
    to_device = soxr.ResampleStream(RATE, args.rate, 1, dtype="float32")
    echo = None if args.no_echo else EchoCanceller(delay_ms=60)
    device_frame = FRAME * args.rate // RATE
    out = np.zeros(device_frame, np.float32)
    pending = np.zeros(0, np.float32)
    played = np.zeros(FRAME, np.float32)
    loop_ms, callback_ms = [], []
    for i in range(args.frames):
        start = (i * device_frame) % (speech.size - device_frame)
        t = time.perf_counter()
        capture.write(speech[start:start + device_frame])  # the callback's half
        playback.read_into(out)
        callback_ms.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        pending = np.concatenate([pending, to_engine.resample_chunk(capture.read(device_frame))])
        if pending.size < FRAME:  # the resampler's own delay, at the very start
            continue
        mic, pending = pending[:FRAME], pending[FRAME:]
        if echo is not None:
            mic = echo.cancel(mic, played)
        played = reply[(i * FRAME) % (reply.size - FRAME):][:FRAME]
        playback.write(to_device.resample_chunk(played))
        loop_ms.append((time.perf_counter() - t) * 1000)
    steady = loop_ms[10:]
    result = {"device_rate": args.rate, "echo_cancellation": echo is not None,
              "frames": len(steady), "loop_p50_ms": round(float(np.percentile(steady, 50)), 3),
              "loop_p99_ms": round(float(np.percentile(steady, 99)), 3),
              "callback_p50_ms": round(float(np.percentile(callback_ms[10:], 50)), 4)}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
