"""End-to-end latency the live audio path adds, through a real PulseAudio daemon
(tests/pulse.py: a pipe source as the microphone, a null sink as the speaker): a
stand-in engine hands each microphone frame straight back, clicks go into the
microphone, and the speaker's monitor (recorded with parec) says when they come out.

    python bench/audio_latency.py [--sessions 3] [--clicks 8] [--cold] [--json out.json]

Times, per click (it "sounds" when the feed's clock reaches it; the feed hands the
microphone 20 ms blocks, each once its last sample has sounded, as a sound card does):
  capture   click sounds → read_frame returns the frame holding it (the feed's block,
            PulseAudio's record buffer, PortAudio's input buffer and 20 ms block, our
            capture ring, resampling, and waiting for the 80 ms frame to fill)
  framing   the part of capture spent waiting for the rest of the 80 ms frame
  held      microphone audio newer than the frame, already captured and resampled but
            kept for the next frame when read_frame returned (it delays that frame)
  playback  write_frame returns → the click reaches the speaker's monitor (the queue
            ahead of the reply, in the sound server's stream or in our playback ring and
            PortAudio's output buffer; the sink). parec hands the monitor on ~10 ms
            after the sink renders: good to ±10 ms.
  ring      what was queued for the speaker right after the write (the frame included)
Normally the null sink is kept running (tests/pulse.py steady_sink), as a sound card
runs; `--cold` leaves it idle, and each stream then starts ~1.8 s late with that much
microphone backlog behind it for good (the sink's idle block, see steady_sink).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from arcus_desktop.audio.devices import list_devices  # noqa: E402
from arcus_desktop.audio.duplex import FRAME, RATE, DuplexAudio  # noqa: E402
from arcus_desktop.audio.echo import EchoCanceller  # noqa: E402
from tests.pulse import pulse_server, steady_sink  # noqa: E402

CHUNK = 480  # the microphone feed's 20 ms writes
THRESHOLD = 0.2
LEAD_S, GAP_S = 1.0, 0.9


TONES = (2000, 2750, 3500, 4250, 5000)  # clicks take these in turn, so each is told apart


def _click(hz: int = 3000) -> np.ndarray:
    n = np.arange(48)  # 2 ms of a tone under a Hann window
    return (0.8 * np.hanning(48) * np.sin(2 * np.pi * hz * n / RATE)).astype(np.float32)


def _tone_of(x: np.ndarray, at: int) -> int:
    """Which of TONES the click starting near `at` is."""
    seg = x[max(0, at - 8):at + 56].astype(np.float64)
    spectrum = np.abs(np.fft.rfft(seg * np.hanning(seg.size), 1024))
    hz = np.argmax(spectrum) * RATE / 1024
    return min(TONES, key=lambda t: abs(t - hz))


def _onsets(x: np.ndarray, refractory: int = RATE // 4) -> list[int]:
    """Indices where the signal first rises above THRESHOLD after a quiet spell."""
    out, last = [], -refractory
    for i in np.flatnonzero(np.abs(x) > THRESHOLD):
        if i - last >= refractory:
            out.append(int(i))
        last = i
    return out


class Monitor:
    """parec on the speaker's monitor, each read stamped with when it arrived."""

    def __init__(self, refractory_s: float = 0.25) -> None:
        self.refractory = int(refractory_s * RATE)
        self.proc = subprocess.Popen(
            ["parec", "-d", "spk.monitor", "--raw", "--format=float32le", f"--rate={RATE}",
             "--channels=1", "--latency-msec=10"], stdout=subprocess.PIPE)
        self.reads: list[tuple[float, np.ndarray]] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        fd, rest = self.proc.stdout.fileno(), b""
        while data := os.read(fd, 960):
            now = time.monotonic()
            data, rest = rest + data, b""
            whole = len(data) // 4 * 4
            data, rest = data[:whole], data[whole:]
            self.reads.append((now, np.frombuffer(data, "<f4")))

    def clicks(self) -> list[tuple[float, int]]:
        """When each click reached the monitor (the arrival of its read, less the samples
        that came after it in that read), and its tone."""
        audio = np.concatenate([r for _, r in self.reads])
        ends = np.cumsum([r.size for _, r in self.reads])
        times = []
        for i in _onsets(audio, self.refractory):
            k = int(np.searchsorted(ends, i, side="right"))
            times.append((self.reads[k][0] - (ends[k] - 1 - i) / RATE, _tone_of(audio, i)))
        return times

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self.thread.join(10)


def _feed(fifo, starts: list[int], written: list[float], stop: threading.Event) -> None:
    """Silence with a click at each of `starts` (samples), written 20 ms at a time as a
    microphone delivers it, then silence until `stop` (a pipe source without a writer
    stops the stream's callbacks, which DuplexAudio would take for a lost device).
    `written` gets when each click sounded, once it is written."""
    pcm = np.zeros(starts[-1] + RATE, np.float32)
    for s in starts:
        pcm[s:s + 48] = _click(TONES[starts.index(s) % len(TONES)])
    data = (pcm * 32767).astype("<i2").tobytes()
    begun = time.monotonic()
    silence = bytes(2 * CHUNK)
    with open(fifo, "wb") as f:
        for k in range(0, 1 << 62, CHUNK):
            # A block exists once its last sample has sounded, as a sound card's does.
            if stop.wait(begun + (k + CHUNK) / RATE - time.monotonic()):
                return
            f.write(data[2 * k:2 * (k + CHUNK)] if k < pcm.size else silence)
            f.flush()
            written.extend(begun + s / RATE for s in starts if k <= s < k + CHUNK)


def session(fifo, clicks: int, gap: float = GAP_S, stall: float = 0.0,
            echo: bool = True) -> tuple[list[dict], dict]:
    """One conversation of `clicks` clicks `gap` apart (plus a little, so clicks land at
    every point of the 80 ms framing). `stall`: the stand-in engine stops for that long
    once, half-way through (a slow frame, a busy computer)."""
    monitor = Monitor(gap / 2)
    written: list[float] = []
    seen: list[dict] = []
    notices: list[str] = []
    stop = threading.Event()
    starts = [int((LEAD_S + i * gap + i * 0.013) * RATE) for i in range(clicks)]
    stall_window = None
    canceller = EchoCanceller(enabled=echo)
    with DuplexAudio(echo=canceller, on_notice=lambda n: notices.append(n.message)) as audio:
        feeder = threading.Thread(target=_feed, args=(fifo, starts, written, stop), daemon=True)
        feeder.start()
        begun = time.monotonic()
        deadline = begun + starts[-1] / RATE + stall + 10
        last = -1.0
        while time.monotonic() < deadline and not (
                len(written) == clicks and time.monotonic() > written[-1] + 1.5):
            frame = audio.read_frame(timeout=5.0)  # the engine's loop, minus the model
            if frame is None:
                break
            read_at = time.monotonic()
            if stall and stall_window is None and read_at - begun > starts[clicks // 2] / RATE - 0.1:
                time.sleep(stall)  # the engine is stuck; the devices run on
                stall_window = (read_at, time.monotonic())
            held = audio.stats.capture_queue_ms / 1000  # captured, kept for the next frame
            audio.write_frame(frame)
            written_at = time.monotonic()
            peaks = np.flatnonzero(np.abs(frame) > THRESHOLD)
            if peaks.size and read_at - last > gap / 2:
                last = read_at
                queued = audio.stats.playback_queue_ms / 1000
                seen.append({"read": read_at, "written": written_at, "held": held,
                             "framing": (FRAME - peaks[0]) / RATE, "playback_ring": queued,
                             "tone": _tone_of(frame, int(peaks[0]) - 24)})
        stats = audio.stats
        info = {"notices": notices, "device_rate": audio.device_rate,
                "input_latency": stats.input_latency_ms / 1000,
                "output_latency": stats.output_latency_ms / 1000, "block": audio.speaker_block_s,
                "native": audio.native_speaker,
                "added_delay_ms": stats.added_delay_ms, "stale_ms": stats.stale_ms,
                "trimmed_ms": stats.trimmed_ms, "xruns": stats.device_xruns,
                "stall": stall_window}
        stop.set()
    monitor.stop()
    out = monitor.clicks()
    trials = []
    for n, t_in in enumerate(written):  # each click: its frame, then its sound, by tone
        tone = TONES[n % len(TONES)]
        # Its frame is read within 0.4 s of the click, or of the stall's end if the click
        # sounded during it; its sound follows within 0.4 s (a queue left by a stall
        # is trimmed within 8 frames, 0.64 s: within 1 s then).
        by = max(t_in, stall_window[1] if stall_window else t_in) + 0.4
        got = next((s for s in seen if t_in <= s["read"] < by and s["tone"] == tone), None)
        heard = got and next((o for o in out if got["written"] <= o[0] < got["written"] + 1.0
                              and o[1] == tone), None)
        if got and heard:
            seen.remove(got)
            out.remove(heard)
            trials.append({"at": t_in, "capture": got["read"] - t_in, "framing": got["framing"],
                           "playback": heard[0] - got["written"], "ring": got["playback_ring"],
                           "held": got["held"], "total": heard[0] - t_in})
        else:
            trials.append({"at": t_in, "lost": True})
    return trials, info


def _stall_report(trials: list[dict], info: dict) -> None:
    """Each click's delay by when it sounded, against the stall; and how long after the
    stall the delay stayed within 20 ms of its value before it."""
    begin, end = info["stall"]
    before = [t["total"] for t in trials if t["at"] < begin and not t.get("lost")]
    steady = statistics.median(before)
    print(f"stall of {1000 * (end - begin):.0f} ms; delay before it: median "
          f"{1000 * steady:.1f} ms over {len(before)} clicks")
    print(f"{'click at (s from stall end)':<30}{'delay ms':>10}")
    recovered = None  # from this click on, every click heard was within 20 ms of before
    for t in trials:
        rel = t["at"] - end
        delay = "dropped" if t.get("lost") else f"{1000 * t['total']:.1f}"
        print(f"{rel:<30.2f}{delay:>10}")
        if rel < 0 or t.get("lost"):  # a click lost on the way says nothing of the delay
            continue
        if abs(t["total"] - steady) <= 0.020:
            recovered = rel if recovered is None else recovered
        else:
            recovered = None
    after = [t["total"] for t in trials if 0 <= t["at"] - end <= 2 and not t.get("lost")]
    print(f"dropped as stale: {info['stale_ms']:.0f} ms of microphone, "
          f"{info['trimmed_ms']:.0f} ms of playback queue")
    if after:
        print(f"delay in the 2 s after the stall: median {1000 * statistics.median(after):.1f} "
              f"ms, max {1000 * max(after):.1f} ms")
    print("back within 20 ms of before, for good: "
          + (f"{recovered:.2f} s after the stall" if recovered is not None else "never"))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=3)
    ap.add_argument("--clicks", type=int, default=8)
    ap.add_argument("--gap", type=float, default=GAP_S, help="seconds between clicks")
    ap.add_argument("--cold", action="store_true", help="leave the null sink idle")
    ap.add_argument("--stall", type=float, default=0.0,
                    help="the stand-in engine stops this long once, mid-session")
    ap.add_argument("--no-echo-cancellation", dest="echo", action="store_false")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    trials, infos = [], []
    with pulse_server() as fifo:
        list_devices(refresh=True)
        with contextlib.nullcontext() if args.cold else steady_sink():
            for _ in range(args.sessions):
                got, info = session(fifo, args.clicks, args.gap, args.stall, args.echo)
                trials.append(got)
                infos.append(info)
    heard = [t for ts in trials for t in ts if not t.get("lost")]
    if not heard:
        print("no click came through", file=sys.stderr)
        return 1
    info = infos[0]
    print(f"{len(heard)} clicks of {args.sessions * args.clicks} matched, "
          f"{args.sessions} sessions, device rate {info['device_rate']} Hz, "
          f"{'idle' if args.cold else 'running'} null sink, echo cancellation "
          f"{'on' if args.echo else 'off'}")
    speaker = (f"the sound server's own stream, margin {1000 * info['block']:.0f} ms"
               if info["native"] else f"PortAudio, blocks {1000 * info['block']:.0f} ms")
    print(f"latencies reported: input {1000 * info['input_latency']:.0f} ms, output "
          f"{1000 * info['output_latency']:.0f} ms; speaker: {speaker} at the end; "
          f"frame {1000 * FRAME / RATE:.0f} ms; the app's own estimate of the added delay "
          f"{info['added_delay_ms']:.0f} ms; device xruns {sum(i['xruns'] for i in infos)}")
    for notice in (n for i in infos for n in i["notices"]):
        print("device notice:", notice)
    if args.stall:
        for got, info in zip(trials, infos):
            if info["stall"]:
                _stall_report(got, info)
    print(f"{'piece':<44}{'median':>9}{'max':>9}")
    rows = [("capture: mic → read_frame", "capture"),
            ("  of it, filling the 80 ms frame", "framing"),
            ("  newer audio already held for the next frame", "held"),
            ("playback: write_frame → speaker monitor", "playback"),
            ("  of it, queued for the speaker after the write", "ring"), ("end to end", "total")]
    summary = {}
    for label, key in rows:
        values = [1000 * t[key] for t in heard]
        summary[key] = {"median_ms": statistics.median(values), "max_ms": max(values)}
        print(f"{label:<44}{statistics.median(values):>8.1f} {max(values):>8.1f}")
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "info": infos, "trials": trials},
                                        indent=1))
    total = summary["total"]
    print(f"end-to-end p50 {total['median_ms']:.0f} ms, max {total['max_ms']:.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
