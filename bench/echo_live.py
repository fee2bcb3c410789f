"""Echo cancellation on the live path, through a real PulseAudio daemon (tests/pulse.py):
what the app plays on the speaker comes back into its microphone, as on a laptop
without a headset, and DuplexAudio's canceller has to take it out.

    python bench/echo_live.py [--seconds 24] [--gain 0.5] [--json out.json]

The room: parec records the speaker's monitor, a thread passes it through a room's
response (direct sound plus a 120 ms reverberant tail, at `--gain` amplitude), adds the
user's voice for the second half (double talk) and a little noise, and writes it into
the microphone's FIFO 20 ms at a time. So the echo reaches the microphone after the
sound server's real delays, which the app does not know in advance. The stand-in
engine plays real speech (shared/audio/input_assistant.wav) as its reply, whatever it
hears, and keeps what read_frame returns.

Reported, after 3 s of convergence: echo return loss enhancement (ERLE) while only the
assistant talks; also after how many seconds of echo every later second had 30 dB or
more removed (converged for good: a later loss of lock moves it on), and the ERLE from
then on — the echo's power in the microphone over what is left of it — and,
while both talk, the user's level in what the engine hears against the user's own
level (the canceller must not eat the user). The canceller's own ~9 ms block delay
is found by cross-correlation, as in tests/unit/test_echo.py.
"""

from __future__ import annotations

import argparse
import json
import os
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
from arcus_desktop.audio.files import read_mono  # noqa: E402
from tests.pulse import pulse_server, steady_sink  # noqa: E402

AUDIO = ROOT.parent / "shared" / "audio"
CHUNK = 480  # the room writes 20 ms at a time, as a microphone delivers
SETTLE_S = 3.0
TARGET_DB = 30.0  # the "after convergence" figure (#14 item 3)
PREBUFFER_S = 0.04  # the room's jitter buffer: parec hands the monitor over in bursts


def _response(gain: float, seed: int = 0) -> np.ndarray:
    """A room: the direct sound 1 ms after it leaves the speaker, then 120 ms of decaying
    reflections; `gain` is its overall amplitude (0.5: the echo at half the level)."""
    rng = np.random.default_rng(seed)
    n = int(0.121 * RATE)
    h = rng.standard_normal(n) * np.exp(-np.arange(n) / (0.03 * RATE)) * 0.3
    h[:24] = 0.0
    h[24] = 1.0
    return (h * gain / np.sqrt((h ** 2).sum())).astype(np.float32)


class Room:
    """Speaker monitor → room response (+ the user, + noise) → microphone FIFO.

    The microphone runs on its own clock, as a sound card's does: a block every 20 ms
    of monotonic time, fed from what the monitor delivered `PREBUFFER_S` before. So the
    way from the speaker to the microphone keeps one delay, as through a laptop's air,
    and does not wander with parec's bursts (which paced the microphone before and
    moved the echo by several ms at a time). A block the monitor has not delivered in
    time goes in as silence and is counted (`late_blocks`)."""

    def __init__(self, fifo: Path, response: np.ndarray, user: np.ndarray, user_from: int):
        self.fifo, self.h, self.user, self.user_from = fifo, response, user, user_from
        self.echo: list[np.ndarray] = []  # what went into the microphone, by part
        self.near: list[np.ndarray] = []
        self.late_blocks = 0
        self._owed = 0  # monitor samples to skip after late blocks
        self.stop = threading.Event()
        self._heard = bytearray()  # monitor audio not yet through the room
        self._lock = threading.Lock()
        self._primed = threading.Event()
        self.proc = subprocess.Popen(
            ["parec", "-d", "spk.monitor", "--raw", "--format=float32le", f"--rate={RATE}",
             "--channels=1", "--latency-msec=10"], stdout=subprocess.PIPE)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        fd = self.proc.stdout.fileno()
        while not self.stop.is_set():
            data = os.read(fd, 4 * CHUNK)
            if not data:
                return
            with self._lock:
                self._heard += data
                if len(self._heard) >= 4 * int(PREBUFFER_S * RATE):
                    self._primed.set()

    def _take(self) -> np.ndarray:
        """The next 20 ms of the monitor; silence if it is late, and then as much of the
        monitor is skipped once it comes, so that the speaker-to-microphone delay stays
        what it was (a room's does not grow)."""
        with self._lock:
            if self._owed and len(self._heard) >= 4 * (self._owed + CHUNK):
                del self._heard[:4 * self._owed]
                self._owed = 0
            if len(self._heard) < 4 * CHUNK:
                self.late_blocks += 1
                self._owed += CHUNK
                return np.zeros(CHUNK, np.float32)
            raw = bytes(self._heard[:4 * CHUNK])
            del self._heard[:4 * CHUNK]
        return np.frombuffer(raw, "<f4")

    def _run(self) -> None:
        size = 1 << int(np.ceil(np.log2(self.h.size + CHUNK)))
        spectrum = np.fft.rfft(self.h, size)
        past = np.zeros(self.h.size - 1, np.float32)
        rng = np.random.default_rng(1)
        written = 0
        with open(self.fifo, "wb") as mic:
            while not self._primed.wait(0.05):
                if self.stop.is_set():
                    return
            begun = time.monotonic()
            while not self.stop.is_set():
                played = self._take()
                x = np.concatenate([past, played])
                echo = np.fft.irfft(np.fft.rfft(x, size) * spectrum, size)[past.size:x.size]
                past = x[-past.size:]
                near = rng.standard_normal(CHUNK).astype(np.float32) * 1e-4
                k = written - self.user_from
                if 0 <= k < self.user.size:
                    part = self.user[k:k + CHUNK]
                    near[:part.size] += part
                self.echo.append(echo.astype(np.float32))
                self.near.append(near)
                pcm = np.clip(echo + near, -1, 1)
                try:
                    mic.write((pcm * 32767).astype("<i2").tobytes())
                    mic.flush()
                except BrokenPipeError:
                    return
                written += CHUNK
                self.stop.wait(begun + written / RATE - time.monotonic())

    def close(self) -> tuple[np.ndarray, np.ndarray]:
        self.stop.set()
        self.proc.terminate()
        self.proc.wait(10)
        self.thread.join(10)
        self.reader.join(10)
        return np.concatenate(self.echo), np.concatenate(self.near)


def _power(x) -> float:
    return float(np.mean(np.asarray(x, np.float64) ** 2)) + 1e-20


def _lag(out: np.ndarray, mic: np.ndarray, start: int, n: int, search: int) -> int:
    """Where `out[start:start+n]` best matches `mic`: out[i] came from mic[i + lag]."""
    seg = out[start:start + n].astype(np.float64)
    best, lag = -1.0, 0
    for d in range(-search, search + 1, 24):  # coarse, then fine around the best
        m = mic[start + d:start + d + n] if start + d >= 0 else None
        if m is not None and m.size == n:
            c = abs(np.dot(seg, m)) / (np.linalg.norm(m) + 1e-9)
            if c > best:
                best, lag = c, d
    for d in range(lag - 24, lag + 25):
        m = mic[start + d:start + d + n]
        if start + d >= 0 and m.size == n:
            c = abs(np.dot(seg, m)) / (np.linalg.norm(m) + 1e-9)
            if c > best:
                best, lag = c, d
    return lag


def _after_convergence(echo, out, lag: int, half: int) -> tuple[float | None, float | None, list]:
    """When the canceller converged for good: seconds of the assistant's echo (seconds of
    the assistant-only part with echo in them, from the first) before the first second
    from which every second with echo has TARGET_DB or more removed; the ERLE over all the
    assistant-only time from there; each second's ERLE. The first two are None when the
    last second with echo is below TARGET_DB (not converged). Early seconds do not count
    as converged on their own: the module's suppressor mutes hard before its filter has
    learned the room."""
    win = RATE
    start = max(RATE // 2, lag)
    windows = [a for a in range(start, half - win, win) if _power(echo[a:a + win]) > 1e-5]
    erles = [round(float(10 * np.log10(_power(echo[a:a + win]) / _power(out[a - lag:a - lag + win]))), 1)
             for a in windows]
    good = [e >= TARGET_DB for e in erles]
    if not windows or not good[-1]:
        return None, None, erles
    k = len(good) - 1
    while k > 0 and good[k - 1]:
        k -= 1
    a, stop = windows[k], half - RATE // 2
    erle = 10 * np.log10(_power(echo[a:stop]) / _power(out[a - lag:stop - lag]))
    return float(k), float(erle), erles


def run(seconds: float, gain: float, echo_on: bool = True) -> dict:
    played = read_mono(AUDIO / "input_assistant.wav", RATE)
    user = read_mono(AUDIO / "input_service.wav", RATE)
    n_frames = int(seconds * RATE) // FRAME
    half = n_frames * FRAME // 2
    user = user[:half]
    out = []
    with pulse_server() as fifo:
        list_devices(refresh=True)
        with steady_sink():
            with DuplexAudio(echo=EchoCanceller(enabled=echo_on)) as audio:
                room = Room(fifo, _response(gain), user, user_from=half)
                try:
                    for k in range(n_frames):
                        frame = audio.read_frame(timeout=5.0)
                        if frame is None:
                            raise RuntimeError("the microphone delivered nothing")
                        out.append(frame)
                        reply = played[(k * FRAME) % (played.size - FRAME):][:FRAME]
                        audio.write_frame(reply)
                    stats = audio.stats
                finally:
                    echo, near = room.close()
                    late = room.late_blocks
    out = np.concatenate(out)
    mic = echo + near
    # The engine's frames began with the room's first write (the microphone was silent
    # before), give or take the stream's start: find the offset on the user's speech,
    # which the canceller keeps.
    settle = int(SETTLE_S * RATE)
    lag = _lag(out, mic, half + RATE, 4 * RATE, RATE // 2)
    far = slice(settle, half - RATE // 2)  # only the assistant talks (room time)
    both = slice(half + RATE // 2, min(mic.size, out.size + lag) - RATE // 2)
    out_far = out[far.start - lag:far.stop - lag]
    out_both = out[both.start - lag:both.stop - lag]
    erle = 10 * np.log10(_power(echo[far]) / _power(out_far))
    step = 2 * RATE  # how it converges: each 2 s while only the assistant talks (and
    # there is echo to remove: the recording has pauses)
    by_time = [round(float(10 * np.log10(_power(echo[a:a + step]) /
                                         _power(out[a - lag:a - lag + step]))), 1)
               if _power(echo[a:a + step]) > 1e-5 else None
               for a in range(max(RATE, lag), half - step, step)]
    kept = 10 * np.log10(_power(out_both) / _power(near[both]))
    converged_s, erle_after, by_second = _after_convergence(echo, out, lag, half)
    return {"erle_db": erle, "converged_after_s": converged_s, "erle_by_1s_of_echo": by_second,
            "erle_after_convergence_db": erle_after, "double_talk_user_db": kept, "echo_level_db":
            10 * np.log10(_power(echo[far])), "lag_samples": lag,
            "added_delay_ms": stats.added_delay_ms, "xruns": stats.device_xruns, "late_blocks": late,
            "echo_cancellation": echo_on, "erle_by_2s": by_time}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=24.0)
    ap.add_argument("--gain", type=float, default=0.5, help="the echo's amplitude")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    result = run(args.seconds, args.gain)
    print(f"echo in the microphone {result['echo_level_db']:.1f} dBFS; removed (ERLE, after "
          f"{SETTLE_S:g} s) {result['erle_db']:.1f} dB; user during double talk "
          f"{result['double_talk_user_db']:+.1f} dB; device xruns {result['xruns']}; "
          f"room blocks late {result['late_blocks']}")
    print("ERLE every 2 s from 1 s on (dB):", result["erle_by_2s"])
    if result["converged_after_s"] is None:
        print(f"its last second of echo had less than {TARGET_DB:g} dB removed: not converged")
    else:
        print(f"converged for good after {result['converged_after_s']:g} s of echo (every "
              f"second with echo from then on: {TARGET_DB:g} dB or more removed); ERLE "
              f"after convergence {result['erle_after_convergence_db']:.1f} dB")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
