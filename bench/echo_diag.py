"""Why a live echo run fails: bench/echo_live.py with the canceller's inputs recorded.

    python bench/echo_diag.py [--seconds 30] [--json out.json]

Prints, next to echo_live's figures, the Clock's alignment over the run (the tape index
of microphone sample 0, and each time it moved) and the true lag of the echo behind the
reference the canceller was given, every 2 s: the room's response is estimated from the
reference and the raw microphone (cross-spectrum over auto-spectrum) and matched against
the room's known one. Lag > 0: the reference leads (the canceller can follow up to its
delay estimator's reach); lag < 0: the echo comes before its reference (it cannot)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import echo_live  # noqa: E402
from arcus_desktop.audio import duplex  # noqa: E402
from arcus_desktop.audio.echo import EchoCanceller  # noqa: E402

FRAME = duplex.FRAME
RATE = duplex.RATE


def _true_lag(mic: np.ndarray, ref: np.ndarray, h: np.ndarray, span: int = RATE // 4) -> int | None:
    """Samples by which the room's response sits later in mic-versus-ref than in the room
    itself: 0 when the reference is exactly what sounded as the microphone heard."""
    n = 1 << int(np.ceil(np.log2(4 * span)))
    seg = n // 2
    sxy = np.zeros(n // 2 + 1, complex)
    sxx = np.zeros(n // 2 + 1)
    win = np.hanning(n)
    used = 0
    for s in range(span, mic.size - n - span, seg // 2):
        r = ref[s:s + n] * win
        if np.mean(r ** 2) < 1e-6:
            continue
        M, R = np.fft.rfft(mic[s:s + n] * win), np.fft.rfft(r)
        sxy += M * np.conj(R)
        sxx += np.abs(R) ** 2
        used += 1
    if not used:
        return None
    ir = np.fft.irfft(sxy / (sxx + 1e-3 * sxx.mean()), n)
    ir = np.concatenate([ir[-span:], ir[:span + h.size]])  # lags -span … span+len(h)
    c = np.correlate(ir, h, "valid")  # c[k]: h starts at lag k - span
    k = int(np.argmax(c))
    return k - span


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--gain", type=float, default=0.5)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    mics, refs, locks = [], [], []
    holder = {}
    real_cancel = EchoCanceller.cancel
    real_read = duplex.DuplexAudio.read_frame

    def cancel(self, mic, played):
        mics.append(mic.copy())
        refs.append(played.copy())
        audio = holder.get("audio")
        clock = audio._clock if audio is not None else None
        locks.append(None if clock is None or clock._lock is None else float(clock._lock))
        return real_cancel(self, mic, played)

    def read_frame(self, *a, **k):
        holder["audio"] = self
        return real_read(self, *a, **k)

    EchoCanceller.cancel = cancel
    duplex.DuplexAudio.read_frame = read_frame
    try:
        result = echo_live.run(args.seconds, args.gain)
    finally:
        EchoCanceller.cancel = real_cancel
        duplex.DuplexAudio.read_frame = real_read
    mic, ref = np.concatenate(mics), np.concatenate(refs)
    h = echo_live._response(args.gain)
    half = mic.size // 2
    step = 2 * RATE
    lags = [_true_lag(mic[a:a + step], ref[a:a + step], h) for a in range(0, half - step, step)]
    # The Clock's lock: the tape index of microphone sample 0.
    offsets = [round(x) if x is not None else None for x in locks]
    changes = [(i, offsets[i]) for i in range(len(offsets))
               if i == 0 or offsets[i] != offsets[i - 1]]
    first_lock = next((i for i, x in enumerate(offsets) if x is not None), None)
    result.update(true_lag_by_2s=lags, lock_changes=changes, first_lock_frame=first_lock,
                  stale_ms=None)
    print(f"ERLE {result['erle_db']:.1f} dB; user {result['double_talk_user_db']:+.1f} dB; "
          f"xruns {result['xruns']}; late {result['late_blocks']}")
    print("ERLE by 2 s:", result["erle_by_2s"])
    print("true lag of echo behind reference, samples, by 2 s (direct path would be 0):", lags)
    print("lock (tape index of mic sample 0) changes (frame, samples):", changes[:20])
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
