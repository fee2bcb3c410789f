"""Click to first audio, the engine's part (issue 20, item 4): with the model loaded and
one conversation already held (so the persona is in the cache and cuDNN/cuBLAS are
initialised, as after the app's first conversation), the time from "start talking" to
the model's first 80 ms of audio on the host, over several conversations.

    python bench/first_audio_gpu.py --out first_audio.json
    python bench/first_audio_gpu.py --shape tiny --device cpu --talks 2   # smoke test

Twice: with fresh streams for each conversation (as before kept streams) and with the
streams kept from the warm-up and from one conversation to the next (frame_loop.py's
keep_warm, as the app's engine does now). Per conversation: `open` (the persona's plan,
the codec's and the model's streams, the persona restored from the cache), `first frame`
(the first frame through the loop: on the GPU this is also where the frame's CUDA graph
is captured) and `second frame` (a frame as every later one is). What a click costs on top, outside the engine, is the microphone's first 80 ms
frame (the model answers one frame per frame heard) and the speaker's path
(bench/audio_latency.py): the bench prints both beside the engine's part.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("NO_TORCH_COMPILE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

import engine_gpu  # noqa: E402
from arcus_desktop.engine import constants as C  # noqa: E402
from arcus_desktop.engine.frame_loop import FrameLoop  # noqa: E402

MIC_FRAME_MS = 1000 * C.FRAME_SIZE / C.SAMPLE_RATE  # the first frame the microphone fills
SPEAKER_MS = 26.0  # the playback side, bench/audio_latency.py (docs/PERFORMANCE.md, #14)


def talk(engine, prepared, pcm: np.ndarray, frames: int, keep_warm: bool) -> dict:
    engine_gpu.sync(engine.device)
    t0 = time.perf_counter()
    persona = prepared()
    persona.key = "first-audio-bench"  # as the app's: the persona cache keeps its state
    with FrameLoop(engine, persona, keep_warm=keep_warm) as loop:
        engine_gpu.sync(engine.device)
        t_open = time.perf_counter()
        loop.process(pcm[:C.FRAME_SIZE])  # .cpu() inside: the audio is on the host
        t_first = time.perf_counter()
        loop.process(pcm[C.FRAME_SIZE:2 * C.FRAME_SIZE])
        t_second = time.perf_counter()
        for i in range(2, frames):
            loop.process(pcm[i * C.FRAME_SIZE:(i + 1) * C.FRAME_SIZE])
        cached, reused = loop.persona_cached, loop.reused_streams
    return {"reused_streams": reused, "open_ms": (t_open - t0) * 1e3,
            "first_frame_ms": (t_first - t_open) * 1e3, "second_frame_ms": (t_second - t_first) * 1e3,
            "engine_to_first_audio_ms": (t_first - t0) * 1e3, "persona_from_cache": cached}


def main() -> int:
    ap = argparse.ArgumentParser()
    engine_gpu.model_args(ap)
    ap.add_argument("--talks", type=int, default=6, help="conversations after the first")
    ap.add_argument("--frames", type=int, default=25, help="frames in each conversation")
    ap.add_argument("--out")
    args = ap.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    lm, mimi, engine, prepared = engine_gpu.build(args.shape, device)
    pcm = engine_gpu.read_wav(Path(args.wav))
    keys = ("open_ms", "first_frame_ms", "second_frame_ms", "engine_to_first_audio_ms")
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "commit": os.environ.get("COMMIT", "?"),
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "shape": args.shape,
    }
    # Before: each conversation opens its streams and captures its frame graph. After:
    # the host's warm-up leaves them, and each conversation leaves them to the next.
    for name, keep in (("fresh", False), ("kept", True)):
        if keep:  # the host's warm-up (Engine.warm_up; this engine has no preset voices)
            talk(engine, prepared, pcm, 3, True)
        first = talk(engine, prepared, pcm, args.frames, keep)  # the app's first conversation
        runs = [talk(engine, prepared, pcm, args.frames, keep) for _ in range(args.talks)]
        engine.release_loop()
        result[f"{name}_first_conversation"] = {k: round(first[k], 1) for k in keys}
        result[f"{name}_reused_streams"] = [first["reused_streams"]] + [r["reused_streams"] for r in runs]
        result[f"{name}_persona_from_cache"] = all(r["persona_from_cache"] for r in runs)
        for k in keys:
            result[f"{name}_{k}_p50"] = round(engine_gpu.pct([r[k] for r in runs], 50), 1)
            result[f"{name}_{k}_max"] = round(max(r[k] for r in runs), 1)
        engine_ms = result[f"{name}_engine_to_first_audio_ms_p50"]
        result[f"{name}_click_to_speaker_ms_estimate"] = round(MIC_FRAME_MS + engine_ms + SPEAKER_MS, 1)
    for key, value in result.items():
        print(f"| {key} | {value} |")
    for name in ("fresh", "kept"):
        print(f"{name} streams: click to first audio at the speaker, estimated: "
              f"{MIC_FRAME_MS:.0f} ms (the microphone's first frame) + "
              f"{result[f'{name}_engine_to_first_audio_ms_p50']} ms (engine, p50) + "
              f"{SPEAKER_MS:g} ms (speaker path) = {result[f'{name}_click_to_speaker_ms_estimate']} ms")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
