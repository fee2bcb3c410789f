"""What the remote engine adds on loopback (CPU only): the stand-in team server
(tests/remote_stand_in.py, which echoes the user's audio) in a process of its own, the
remote engine's frame loop driven at real time (80 ms ticks) without audio devices.

Per frame: transit (a microphone frame handed to the loop until its echo is decoded
back: Opus both ways, two websocket hops, the server's own decode/encode), the wait in
the jitter buffer, and the loop's own CPU time; plus the websocket round trip and the
jitter buffer's counts. Figures quoted in docs/ARCHITECTURE.md.

With --team-server: the real team server instead (the tiny model on the CPU, a process
of its own, the real 80 ms period) and --clients remote engines at once, their
microphones at random phases. Per client count: how long a frame waited on the server
for the batch's step (wait-for-step), how long the client held it first (the send
pacing, remote/pacing.py), and the time from a microphone frame to its reply's audio
arriving (hold + network + wait + step + codecs). --no-pacing sends at once.

    python bench/remote_loopback.py [--seconds 20] [--jitter-ms 0] [--net-jitter-ms 0]
    python bench/remote_loopback.py --team-server --clients 8 32 [--no-pacing]
"""

from __future__ import annotations

import argparse
import json
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


def team_server(conn, slots: int) -> None:
    """The real server with the tiny model, in this process; answers "mark", "report",
    "stop" on `conn`."""
    import asyncio
    import tempfile
    import threading

    import torch

    from arcus_desktop.engine import testkit
    from arcus_desktop.engine.engine import Engine
    from arcus_desktop.server import run
    from arcus_desktop.server.config import ServerConfig

    torch.set_num_threads(1)  # the other core for the event loops and the clients
    engine = Engine.load(testkit.write(tempfile.mkdtemp(prefix="tiny-")), "cpu",
                         user_words=False)
    config = ServerConfig(host="127.0.0.1", port=0, max_sessions=slots)
    config.limits.idle_s = 120.0
    server = run.open_server(config, engine=engine, user_words=False)
    aio = asyncio.new_event_loop()
    threading.Thread(target=aio.run_forever, daemon=True).start()
    runner = asyncio.run_coroutine_threadsafe(run.listen(server), aio).result(120)
    host, port = runner.addresses[0][:2]
    conn.send(f"http://{host}:{port}")
    mark = server.loop.stats()
    while (command := conn.recv()) != "stop":
        now = server.loop.stats()
        if command == "mark":
            mark = now
            continue
        steps = now.frames_total - mark.frames_total
        waited = now.slot_frames_total - mark.slot_frames_total
        conn.send({"wait_ms": now.wait_ms[-waited:] if waited else [],
                   "step_ms": now.frame_ms[-steps:] if steps else [],
                   "late": now.late_ticks - mark.late_ticks, "steps": steps})
    asyncio.run_coroutine_threadsafe(run.stop(server, runner), aio).result(120)


def many(clients: int, seconds: float, pacing: bool, warm_s: float = 6.0) -> dict:
    """`clients` remote engines on the real server, at real time, random phases."""
    ctx = multiprocessing.get_context("spawn")
    here, there = ctx.Pipe()
    # Not a daemon: the server starts its Opus workers (server/codec_pool.py).
    server = ctx.Process(target=team_server, args=(there, clients))
    server.start()
    url = here.recv()
    speech = read_mono(AUDIO / "input_service.wav", 24_000)
    rng = np.random.default_rng(clients)
    phases = rng.uniform(0, FRAME_S, clients)
    frames = int((warm_s + seconds) / FRAME_S)
    warm = int(warm_s / FRAME_S)
    read = np.full((clients, frames), np.nan)
    back = np.full((clients, frames), np.nan)
    loops = []
    for k in range(clients):
        loop = RemoteLoop(url, None, {"text": f"You are helper {k}."})
        if not pacing and hasattr(loop, "pacer"):  # (older trees have no pacer)
            def keep(event, reports=loop.pacer.reports):  # the server's figures, no move
                if "wait_ms_p50" in event:
                    reports.append(event)
            loop.pacer.update = keep
        put = loop.jitter.put

        def timed_put(seq, pcm, now, k=k, put=put):  # when each frame's reply came back
            if seq < frames:
                back[k, seq] = time.monotonic()
            put(seq, pcm, now)
        loop.jitter.put = timed_put
        loop.start()
        loops.append(loop)
    for loop in loops:
        loop.wait_ready(120)
    order = np.argsort(phases)
    start = time.monotonic() + 0.2
    for i in range(frames):
        if i == warm:
            here.send("mark")
            for loop in loops:
                if hasattr(loop, "pacer"):
                    loop.pacer.held_ms.clear()
                    loop.pacer.reports.clear()
        for k in order:
            tick = start + i * FRAME_S + phases[k]
            while (wait := tick - time.monotonic()) > 0:
                time.sleep(wait)  # a bench stands in for the sound cards' clocks
            mic = speech[((i + 37 * k) * FRAME) % (speech.size - FRAME):][:FRAME]
            read[k, i] = time.monotonic()
            if loops[k].error is None:
                try:
                    loops[k].process(mic)
                except Exception:  # noqa: BLE001 (reported below, the others go on)
                    pass
    here.send("report")
    server_side = here.recv()
    held = [x for loop in loops if hasattr(loop, "pacer") for x in loop.pacer.held_ms]
    # The waits the server reported to each client (while it was free: no queueing behind
    # a slow step), one median per client and 2 s window.
    free = [e["wait_ms_p50"] for loop in loops if hasattr(loop, "pacer")
            for e in loop.pacer.reports]
    moves = [loop.pacer.moves if hasattr(loop, "pacer") else 0 for loop in loops]
    errors = [str(loop.error) for loop in loops if loop.error is not None]
    for loop in loops:
        loop.close()
    here.send("stop")
    server.join(60)
    if server.is_alive():
        server.kill()
    reply = (back - read)[:, warm:].ravel() * 1e3
    reply = reply[np.isfinite(reply)]
    wait = np.asarray(server_side["wait_ms"])
    step = np.asarray(server_side["step_ms"])
    p = lambda a, q: round(float(np.percentile(a, q)), 1) if len(a) else float("nan")  # noqa: E731
    return {"clients": clients, "pacing": pacing,
            "wait_ms_p50": p(wait, 50), "wait_ms_p99": p(wait, 99),
            "hold_ms_p50": p(held, 50), "hold_ms_p99": p(held, 99),
            "free_wait_ms_p50_of_windows": p(free, 50),
            "mic_to_reply_ms_p50": p(reply, 50), "mic_to_reply_ms_p99": p(reply, 99),
            "step_ms_p50": p(step, 50), "step_ms_p99": p(step, 99),
            "late_steps": server_side["late"], "steps": server_side["steps"],
            "replies": int(reply.size), "expected": clients * (frames - warm),
            "pacer_moves_max": max(moves), "errors": errors[:3],
            # Real time: every reply came back, and steps fit the period.
            "real_time": bool(reply.size >= 0.98 * clients * (frames - warm)
                              and len(step) and np.percentile(step, 99) < FRAME_S * 1e3)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--jitter-ms", type=float, default=0.0,
                        help="delay each tick's frame by up to this much (random), as a "
                             "busy laptop's audio thread might")
    parser.add_argument("--net-jitter-ms", type=float, default=0.0,
                        help="the stand-in holds each answer up to this long (random, in "
                             "order), as an uneven network would")
    parser.add_argument("--team-server", action="store_true",
                        help="the real server (tiny model, CPU) and --clients engines at once")
    parser.add_argument("--clients", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--no-pacing", action="store_true",
                        help="send each microphone frame at once (no send pacing)")
    args = parser.parse_args()
    if args.team_server:
        print(f"team server (tiny model, CPU, 80 ms period) on loopback, "
              f"{args.seconds:g} s measured after 6 s, pacing {'off' if args.no_pacing else 'on'}")
        for n in args.clients:
            row = many(n, args.seconds, not args.no_pacing)
            print(f"{n} clients: wait-for-step p50 {row['wait_ms_p50']} ms, p99 "
                  f"{row['wait_ms_p99']} ms; read to sent on the client p50 {row['hold_ms_p50']} ms; "
                  f"mic frame -> reply p50 {row['mic_to_reply_ms_p50']} ms, p99 "
                  f"{row['mic_to_reply_ms_p99']} ms; step p50 {row['step_ms_p50']} ms, p99 "
                  f"{row['step_ms_p99']} ms; real time: {row['real_time']}", flush=True)
            print(json.dumps(row), flush=True)
        return
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
