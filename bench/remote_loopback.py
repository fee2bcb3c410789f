"""What the remote engine adds on loopback (CPU only): the stand-in team server
(tests/remote_stand_in.py, which echoes the user's audio) in a process of its own, the
remote engine's frame loop driven at real time (80 ms ticks) without audio devices.

Per frame: transit (a microphone frame handed to the loop until its echo is decoded
back: Opus both ways, two websocket hops, the server's own decode/encode), the wait in
the jitter buffer, and the loop's own CPU time; plus the websocket round trip and the
jitter buffer's counts. Figures quoted in docs/ARCHITECTURE.md.

    python bench/remote_loopback.py [--seconds 20] [--jitter-ms 0] [--net-jitter-ms 0]
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from arcus_desktop.audio.files import read_mono  # noqa: E402
from arcus_desktop.remote.client import RemoteLoop  # noqa: E402
from arcus_desktop.remote.jitter import FRAME, FRAME_S  # noqa: E402
from tests.conftest import AUDIO  # noqa: E402


def serve(port_out, stop, net_jitter_s) -> None:
    from tests.remote_stand_in import StandIn

    with StandIn(junk=False, net_jitter_s=net_jitter_s) as server:
        port_out.send(server.url)
        stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--jitter-ms", type=float, default=0.0,
                        help="delay each tick's frame by up to this much (random), as a "
                             "busy laptop's audio thread might")
    parser.add_argument("--net-jitter-ms", type=float, default=0.0,
                        help="the stand-in holds each answer up to this long (random, in "
                             "order), as an uneven network would")
    args = parser.parse_args()
    ctx = multiprocessing.get_context("spawn")
    here, there = ctx.Pipe()
    stop = ctx.Event()
    server = ctx.Process(target=serve, args=(there, stop, args.net_jitter_ms / 1000),
                         daemon=True)
    server.start()
    url = here.recv()

    speech = read_mono(AUDIO / "input_service.wav", 24_000)
    frames = int(args.seconds / FRAME_S)
    rng = np.random.default_rng(0)
    sent: dict[int, float] = {}
    arrived: dict[int, float] = {}
    played_at: dict[int, int] = {}
    local_ms = []
    loop = RemoteLoop(url, None, {"text": "bench"})
    put = loop.jitter.put

    def timed_put(seq, pcm, now):  # when each frame's echo came back
        arrived[seq] = time.monotonic()
        put(seq, pcm, now)
    loop.jitter.put = timed_put
    with loop:
        start = time.monotonic()
        for k in range(frames):
            tick = start + k * FRAME_S + rng.uniform(0, args.jitter_ms / 1000)
            while (wait := tick - time.monotonic()) > 0:
                time.sleep(wait)  # a bench stands in for the sound card's clock
            mic = speech[(k * FRAME) % (speech.size - FRAME):][:FRAME]
            t0 = time.perf_counter()
            sent[k] = time.monotonic()
            played = loop.process(mic).pcm.any()
            local_ms.append((time.perf_counter() - t0) * 1000)
            if played and loop.jitter.position is not None:
                played_at.setdefault(loop.jitter.position - 1, k)
        rtt = loop.ping_ms
        shown = loop.latency_ms
        stats = loop.jitter.stats()
    stop.set()
    server.join(10)

    transit = np.array([1000 * (arrived[k] - sent[k]) for k in sorted(arrived) if k in sent])
    waits = np.array([(played_at[k] - k) * FRAME_S * 1000 for k in played_at if k > 0])
    print(f"{frames} frames at real time, stand-in server on loopback, CPU only")
    print(f"websocket round trip (ping): {rtt:.2f} ms")
    print(f"transit mic frame -> its echo decoded: p50 {np.percentile(transit, 50):.1f} ms, "
          f"p99 {np.percentile(transit, 99):.1f} ms, max {transit.max():.1f} ms")
    print(f"frame handed in -> the same frame popped for the speaker: p50 "
          f"{np.percentile(waits, 50):.0f} ms, max {waits.max():.0f} ms")
    print(f"jitter buffer: {stats}")
    print(f"loop CPU per frame (Opus, buffer, hand-off): p50 {np.percentile(local_ms, 50):.2f} ms,"
          f" p99 {np.percentile(local_ms, 99):.2f} ms")
    print(f"latency_ms as the UI shows it (last): {shown}")


if __name__ == "__main__":
    main()
