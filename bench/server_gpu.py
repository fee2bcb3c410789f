"""Sessions per GPU through the real team server: N websocket clients on loopback, each
sending a recording in real time as Ogg/Opus and decoding the reply, in client
processes of their own; the server (`arcus_desktop.server`, the batch loop, one CUDA
graph per step) in this process. PersonaPlex-7B's real shape with random weights unless
--model-dir names a real checkpoint.

Per codec setting (`--codec-workers`, serve's option) and client count: the server's step time (encode, model, decode for every slot), how
long frames waited for their step, the round trip a client sees (its frame sent to the
reply's 80 ms decoded), and what network, Opus and the event loops add on top
(each frame's send to its reply, less the wait and the step), late steps, GPU memory,
and CPU in cores: the server's event loop thread, its batch loop thread, its Opus workers, and the client processes (which
share the machine). Prints a table; --out writes JSON.
The clients time their sends to the step as the app does (remote/pacing.py, from the
server's stats events; `hold` is how long they held a frame, and the round trip counts
from the frame's read, hold included); --no-pacing sends each frame as soon as it is read.

    python3 -m pip install --no-index --no-deps --target /tmp/site .whl/*.whl
    PYTHONPATH=/tmp/site NO_TORCH_COMPILE=1 python3 bench/server_gpu.py --out server.json
    python bench/server_gpu.py --shape tiny --device cpu --clients 1 2 --seconds 3  # smoke
    python3 bench/server_gpu.py --clients 32 48 64 --codec-workers 0 auto  # before / after
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))
os.environ.setdefault("NO_TORCH_COMPILE", "1")

FRAME = 1920
RATE = 24000
PERIOD = FRAME / RATE
VOICES = ("NATF0", "NATF2", "NATM1", "VARF3")
WARM_S = 8.0  # each client's first seconds are left out of the figures: pacing settles in
# them (a move per 2 s stats event, three or four from random phases: tests/unit/test_pacing.py)
PER_PROCESS = 16  # clients per client process


# -- clients (their own processes: Opus and asyncio off the server's cores' GIL) ----------
def client_process(base: str, first: int, count: int, seconds: float, wav: str, out,
                   pacing: bool = True) -> None:
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF)
    results = asyncio.run(_clients(base, first, count, seconds, wav, pacing))
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    out.put({"results": results, "cpu_s": cpu})  # this process's CPU for its conversations


async def _clients(base, first, count, seconds, wav, pacing):
    pcm = np.load(wav)
    results = await asyncio.gather(*(_client(base, k, seconds, pcm, pacing)
                                     for k in range(first, first + count)),
                                   return_exceptions=True)
    frames = int(seconds / PERIOD)  # a failed client counts all its frames as missing
    return [r if isinstance(r, dict) else {"rtt_ms": [], "missing": frames, "codec_ms_per_frame": 0.0,
                                           "hold_ms": [], "sent_to_reply_ms": [], "error": repr(r)}
            for r in results]


async def _client(base: str, k: int, seconds: float, pcm: np.ndarray, pacing: bool) -> dict:
    import aiohttp
    import sphn

    from arcus_desktop.audio.ogg import PageSplitter
    from arcus_desktop.remote.pacing import SendPacer

    frames = int(seconds / PERIOD)
    total = pcm.size // FRAME
    start = (k * 37) % max(1, total - 1)
    writer, reader = sphn.OpusStreamWriter(RATE), sphn.OpusStreamReader(RATE)
    sent = np.zeros(frames)
    got = np.full(frames, np.nan)
    codec_s = []
    held = []
    pacer, pages = SendPacer(), PageSplitter()
    query = f"text_prompt=You+are+helper+{k}.&voice_prompt={VOICES[k % len(VOICES)]}.pt&arcus=1"
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(f"{base}/api/chat?{query}") as ws:
            msg = await ws.receive()
            assert msg.type == aiohttp.WSMsgType.BINARY and msg.data == b"\x00", msg

            async def receive():
                samples = 0
                async for msg in ws:
                    if msg.type == aiohttp.WSMsgType.BINARY and msg.data[:1] == b"\x04" and pacing:
                        pacer.update(json.loads(msg.data[1:]))
                    if msg.type != aiohttp.WSMsgType.BINARY or msg.data[:1] != b"\x01":
                        continue
                    t = time.perf_counter()
                    out = reader.append_bytes(msg.data[1:])
                    codec_s.append(time.perf_counter() - t)
                    now = time.perf_counter()
                    before, samples = samples, samples + out.size
                    for i in range(before // FRAME, min(frames, samples // FRAME)):
                        got[i] = now
                    if samples >= frames * FRAME:
                        return

            receiving = asyncio.create_task(receive())
            await asyncio.sleep((k % 16) * PERIOD / 16)  # clients' frames arrive out of phase
            t0 = time.perf_counter()
            for i in range(frames):
                read = t0 + i * PERIOD  # the microphone's frame is whole
                await asyncio.sleep(max(0.0, read - time.perf_counter()))
                j = (start + i) % total
                t = time.perf_counter()
                ogg = writer.append_pcm(pcm[j * FRAME:(j + 1) * FRAME])
                codec_s.append(time.perf_counter() - t)
                sent[i] = read  # the round trip counts from the read, any hold included
                # hold < PERIOD: never more than one frame held
                await asyncio.sleep(max(0.0, read + pacer.hold_s - time.perf_counter()))
                held.append(time.perf_counter() - read)
                for page in pages.pages(ogg):
                    await ws.send_bytes(b"\x01" + page)
            try:
                await asyncio.wait_for(receiving, 10.0)
            except asyncio.TimeoutError:
                receiving.cancel()
    skip = int(WARM_S / PERIOD)
    rtt = (got - sent)[skip:] * 1e3
    # Per frame, the hold taken out: its send to its reply (medians do not subtract).
    sent_to_reply = rtt - np.asarray(held[skip:] + [np.nan] * (frames - len(held)))[:rtt.size] * 1e3
    return {"rtt_ms": [float(x) for x in rtt if np.isfinite(x)], "missing": int(np.isnan(rtt).sum()),
            "codec_ms_per_frame": float(np.sum(codec_s) * 1e3 / max(1, frames)),
            "hold_ms": [x * 1e3 for x in held[skip:]],
            "sent_to_reply_ms": [float(x) for x in sent_to_reply if np.isfinite(x)]}


# -- the server ---------------------------------------------------------------------------
def build_engine(args):
    import torch

    from arcus_desktop.engine import checkpoint, model, testkit
    from arcus_desktop.engine import constants as C
    from arcus_desktop.engine.engine import Engine

    device = torch.device(args.device)
    if args.model_dir:
        return Engine.load(args.model_dir, args.device, user_words=False)
    from engine_gpu import random_model

    lm, mimi = random_model(args.shape, device)
    folder = Path(tempfile.mkdtemp(prefix="server-bench-"))
    testkit._write_tokenizer(folder / C.TOKENIZER_FILE)
    testkit.write_voices(folder / C.VOICES_FILE, lm, mimi, VOICES)
    files = checkpoint.ModelFiles(folder)
    tokenizer = model.load_tokenizer(folder / C.TOKENIZER_FILE)
    return Engine(model.LoadedModel(files, lm, mimi, tokenizer, device, C.NUM_CODEBOOKS))


class Served:
    """A server on 127.0.0.1 with its event loop on a thread of its own."""

    def __init__(self, engine, slots: int, codec_workers: int | None = None) -> None:
        from arcus_desktop.server.config import ServerConfig
        from arcus_desktop.server.run import listen, open_server

        config = ServerConfig(host="127.0.0.1", port=0, max_sessions=slots, codec_workers=codec_workers)
        config.limits.idle_s = 120.0
        self.server = open_server(config, engine=engine, user_words=False)
        self.loop = asyncio.new_event_loop()
        thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        thread.start()
        self.runner = self.call(listen(self.server))
        self.loop_tid = thread.native_id
        self.batch_tid = self.server.loop._thread.native_id
        host, port = self.runner.addresses[0][:2]
        self.base = f"ws://{host}:{port}"

    def call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(300)

    def close(self) -> None:
        from arcus_desktop.server.run import stop

        self.call(stop(self.server, self.runner))
        self.loop.call_soon_threadsafe(self.loop.stop)


def start_clients(base: str, n: int, seconds: float, wav: str, pacing: bool = True):
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = []
    for first in range(0, n, PER_PROCESS):
        p = ctx.Process(target=client_process,
                        args=(base, first, min(PER_PROCESS, n - first), seconds, wav, out, pacing))
        p.start()
        procs.append(p)
    return out, procs


def collect(out, procs, seconds: float) -> tuple[list[dict], float]:
    """Every client's figures, and the CPU seconds the client processes took."""
    results, cpu = [], 0.0
    for _ in procs:
        got = out.get(timeout=seconds + 300)
        results += got["results"]
        cpu += got["cpu_s"]
    for p in procs:
        p.join(30)
    return results, cpu


def cpu_seconds(stat: str) -> float:
    """utime + stime of a /proc stat file (Linux; 0 elsewhere)."""
    try:
        fields = Path(stat).read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_cpu(served) -> dict:
    """CPU seconds so far of the server's event loop thread, its batch loop thread and
    its codec worker processes."""
    task = f"/proc/{os.getpid()}/task"
    return {"loop": cpu_seconds(f"{task}/{served.loop_tid}/stat"),
            "batch": cpu_seconds(f"{task}/{served.batch_tid}/stat"),
            "codecs": sum(cpu_seconds(f"/proc/{pid}/stat") for pid in served.server.codecs.pids)}


def pct(values, q) -> float:
    return float(np.percentile(np.asarray(values), q)) if len(values) else float("nan")


def measure(engine, n: int, slots: int, seconds: float, wav: str, pacing: bool = True,
            codec_workers: int | None = None) -> dict:
    import torch

    if engine.device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    served = Served(engine, slots, codec_workers)
    loop = served.server.loop
    try:
        collect(*start_clients(served.base, 1, 1.0, wav), 1.0)  # graph capture, persona caches
        t0 = time.perf_counter()
        out, procs = start_clients(served.base, n, seconds, wav, pacing)
        # The server's figures over the clients' steady part, as theirs: from WARM_S on.
        first = loop.stats().frames_total
        while loop.stats().frames_total < first + WARM_S / PERIOD and any(p.is_alive() for p in procs):
            time.sleep(0.05)
        mid = loop.stats()
        cpu_mid, t_mid = server_cpu(served), time.perf_counter()
        results, clients_cpu = collect(out, procs, seconds)
        wall = time.perf_counter() - t0
        end = loop.stats()
        cpu_end, t_end = server_cpu(served), time.perf_counter()
    finally:
        served.close()
    steps = end.frames_total - mid.frames_total
    frame_ms = end.frame_ms[-steps:] if steps else []
    waited = end.slot_frames_total - mid.slot_frames_total
    wait_ms = end.wait_ms[-waited:] if waited else []
    rtt = [x for r in results for x in r["rtt_ms"]]
    hold = [x for r in results for x in r["hold_ms"]]
    sent_to_reply = [x for r in results for x in r.get("sent_to_reply_ms", [])]
    missing = sum(r["missing"] for r in results)
    errors = sorted({r["error"] for r in results if "error" in r})
    step50, rtt50 = pct(frame_ms, 50), pct(rtt, 50)
    wait50 = pct(wait_ms, 50)
    row = {
        "clients": n, "slots": slots, "steps": steps, "wall_s": round(wall, 1),
        "step_ms_p50": round(step50, 2), "step_ms_p99": round(pct(frame_ms, 99), 2),
        "wait_ms_p50": round(wait50, 2), "wait_ms_p99": round(pct(wait_ms, 99), 2),
        "hold_ms_p50": round(pct(hold, 50), 2), "pacing": pacing,
        "rtt_ms_p50": round(rtt50, 1), "rtt_ms_p99": round(pct(rtt, 99), 1),
        "sent_to_reply_ms_p50": round(pct(sent_to_reply, 50), 1),
        # What the server adds beyond the wait and the step (network, Opus both ways, the
        # event loops): each frame's send to its reply, less the wait and step medians.
        # Until 2026-12-06 this subtracted the hold's median from the round trip's, which
        # moved with how the clients' holds happened to spread (8 vs 15 ms, same rtt).
        "added_ms_p50": round(pct(sent_to_reply, 50) - wait50 - step50, 1),
        "added_by_medians_ms_p50": round(rtt50 - wait50 - step50 - pct(hold, 50), 1),
        "client_codec_ms_per_frame": round(float(np.mean([r["codec_ms_per_frame"] for r in results])), 3),
        "late_steps": end.late_ticks - mid.late_ticks, "missing_frames": missing,
        "gpu_peak_gib": round((end.gpu_memory_peak or 0) / 2**30, 2),
        "client_errors": errors,
        "codec_workers": served.server.codecs.workers,
    }
    # CPU, in cores (1.0 = one core busy all the time): the server's threads and codec
    # workers over the steady part, the client processes over their whole conversations.
    span = max(1e-9, t_end - t_mid)
    for name in ("loop", "batch", "codecs"):
        row[f"cpu_{name}_cores"] = round((cpu_end[name] - cpu_mid[name]) / span, 3)
    client_frames = max(1, (end.slot_frames_total - mid.slot_frames_total))
    row["cpu_loop_ms_per_frame"] = round((cpu_end["loop"] - cpu_mid["loop"]) * 1e3 / client_frames, 3)
    row["cpu_clients_cores"] = round(clients_cpu / max(1e-9, wall), 3)
    row["cores"] = os.cpu_count()
    row["load_avg_1m"] = round(os.getloadavg()[0], 2)
    # Real time: every reply came, steps fit the frame, and nothing piled up.
    row["real_time"] = bool(missing == 0 and row["step_ms_p99"] < PERIOD * 1e3 and
                            row["rtt_ms_p99"] < 4 * PERIOD * 1e3)
    return row


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", choices=("full", "tiny"), default="full")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--model-dir", help="a real checkpoint instead of random weights")
    ap.add_argument("--wav", default=str(ROOT / ".bench" / "input_assistant.wav"))
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 8, 16, 32])
    ap.add_argument("--slots", type=int, default=0,
                    help="server --max-sessions (default: the client count of each run)")
    ap.add_argument("--seconds", type=float, default=20.0, help="audio each client sends")
    ap.add_argument("--no-pacing", action="store_true", help="send each frame as soon as it is read")
    ap.add_argument("--codec-workers", nargs="+", default=["auto"],
                    help="the server's Opus worker processes, one run per value: auto (serve's "
                    "default), or a number; 0 codes in the server's process (as before the pool)")
    ap.add_argument("--switch-interval", type=float, default=0.0,
                    help="sys.setswitchinterval for the server's process (s; default Python's "
                    "5 ms): how long the event loop may wait for the GIL the batch thread holds")
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)

    import torch

    from arcus_desktop.audio.files import read_mono

    torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))
    wav = Path(tempfile.mkdtemp()) / "speech.npy"
    np.save(wav, read_mono(args.wav, RATE))
    t = time.perf_counter()
    engine = build_engine(args)
    print(f"engine ready in {time.perf_counter() - t:.1f} s on {engine.device}", flush=True)
    rows = []
    for workers in args.codec_workers:
        for n in args.clients:
            try:
                row = measure(engine, n, args.slots or n, args.seconds, str(wav), not args.no_pacing,
                              None if workers == "auto" else int(workers))
            except torch.cuda.OutOfMemoryError:
                row = {"clients": n, "result": "out of GPU memory"}
            rows.append(row)
            print(json.dumps(row), flush=True)
            if row.get("result") == "out of GPU memory":
                break  # the model may be left half in streaming state: no later run is sound
        else:
            continue
        break
    header = ("codec_workers", "clients", "slots", "step_ms_p50", "step_ms_p99", "wait_ms_p50",
              "wait_ms_p99", "hold_ms_p50", "rtt_ms_p50", "rtt_ms_p99", "sent_to_reply_ms_p50",
              "added_ms_p50", "added_by_medians_ms_p50", "late_steps",
              "missing_frames", "gpu_peak_gib", "real_time", "cpu_loop_cores", "cpu_loop_ms_per_frame",
              "cpu_batch_cores", "cpu_codecs_cores", "cpu_clients_cores", "load_avg_1m")
    print("\n| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(row.get(h, row.get("result", ""))) for h in header) + " |")
    result = {"device": torch.cuda.get_device_name() if engine.device.type == "cuda" else "cpu",
              "torch": torch.__version__, "date": time.strftime("%Y-%m-%d"),
              "commit": _commit(), "seconds_per_client": args.seconds,
              "switch_interval_s": sys.getswitchinterval(), "rows": rows}
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))
    return 0


def _commit() -> str:
    """The commit measured: $COMMIT when set (the device machine's copy of .git can be
    older than the working tree it was sent with), else git's."""
    import subprocess

    if os.environ.get("COMMIT"):
        return os.environ["COMMIT"]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, timeout=10).stdout.strip()
    except OSError:
        head = ""
    return head or "?"


if __name__ == "__main__":
    raise SystemExit(main())
