"""The server's Opus alone (CPU, no model, no network): N conversations stepped together
every 80 ms as the batch loop steps them; each tick every conversation's client page is
decoded and its reply frame encoded, through `server/codec_pool.py` with W workers or in
the event loop's own process (W = 0, as before the pool).

Per setting: how long after the tick a conversation's reply Ogg is ready (p50/p99: the
codecs' share of the server's added latency), and the event loop thread's CPU per
conversation frame (what the pool leaves on the server's GIL).

    python bench/codec_pool.py --sessions 16 32 64 --workers 0 1 2 4 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from arcus_desktop.server.codec_pool import CodecPool  # noqa: E402
from arcus_desktop.audio.ogg import PageSplitter  # noqa: E402

RATE, FRAME, PERIOD = 24000, 1920, 0.08


def client_pages(pcm: np.ndarray, frames: int) -> list[list[bytes]]:
    """Per frame, the Ogg pages a client would send for it."""
    import sphn

    writer, splitter = sphn.OpusStreamWriter(RATE), PageSplitter()
    return [splitter.pages(writer.append_pcm(pcm[i * FRAME:(i + 1) * FRAME])) for i in range(frames)]


async def run(sessions: int, workers: int, seconds: float, pcm: np.ndarray) -> dict:
    frames = int(seconds / PERIOD)
    pages = client_pages(pcm, frames)
    pool = CodecPool(workers)
    pool.start(asyncio.get_running_loop())
    try:
        decoded = [0] * sessions
        codecs = [pool.open(lambda p, k=k: decoded.__setitem__(k, decoded[k] + p.size), print)
                  for k in range(sessions)]
        for codec in codecs:  # warm: workers started, headers coded
            await codec.encode(np.zeros(FRAME, np.float32))
        ready_ms = []

        async def reply(codec, frame, t0):
            await codec.encode(frame)
            ready_ms.append((time.perf_counter() - t0) * 1e3)

        cpu0 = time.thread_time()
        start = time.perf_counter()
        for i in range(frames):
            await asyncio.sleep(max(0.0, start + i * PERIOD - time.perf_counter()))
            t0 = time.perf_counter()
            for codec in codecs:
                for page in pages[i]:
                    codec.decode(page)
            frame = pcm[i * FRAME:(i + 1) * FRAME]
            await asyncio.gather(*(reply(codec, frame, t0) for codec in codecs))
        cpu = time.thread_time() - cpu0
        for codec in codecs:
            codec.close()
    finally:
        pool.close()
    ready = np.asarray(ready_ms)
    return {"sessions": sessions, "workers": workers,
            "ready_ms_p50": round(float(np.percentile(ready, 50)), 2),
            "ready_ms_p99": round(float(np.percentile(ready, 99)), 2),
            "loop_cpu_ms_per_frame": round(cpu * 1e3 / (frames * sessions), 3),
            "load_avg_1m": round(os.getloadavg()[0], 2)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, nargs="+", default=[16, 32, 64])
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2, 4])
    ap.add_argument("--seconds", type=float, default=5.0)
    args = ap.parse_args()
    from arcus_desktop.audio.files import read_mono

    wav = ROOT.parent / "shared" / "audio" / "input_assistant.wav"
    speech = (read_mono(wav, RATE) if wav.exists() else  # else noise: Opus costs about the same
              (np.random.default_rng(0).standard_normal(RATE * 30) * 0.1).astype(np.float32))
    print("| sessions | workers | reply ready p50 | p99 | loop CPU per frame | load |\n|---|---|---|---|---|---|")
    for n in args.sessions:
        for w in args.workers:
            row = asyncio.run(run(n, w, args.seconds, speech))
            print(f"| {n} | {w} | {row['ready_ms_p50']} ms | {row['ready_ms_p99']} ms | "
                  f"{row['loop_cpu_ms_per_frame']} ms | {row['load_avg_1m']} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
