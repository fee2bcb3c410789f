"""How well the voice activity and the turn tracker follow real speech, and what they
and the conversation recorder cost per 80 ms frame: the figures quoted in
tests/unit/test_vad.py and test_turns.py.

    python bench/turns_accuracy.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from arcus_desktop.audio.files import read_mono  # noqa: E402
from arcus_desktop.core.turns import USER, TurnTracker  # noqa: E402
from arcus_desktop.core.vad import VoiceActivity  # noqa: E402
from tests import speech  # noqa: E402
from tests.conftest import AUDIO  # noqa: E402

NOISES = [("clean", None, 0), ("white", -45, 0), ("pink", -45, 0), ("brown", -35, 0),
          ("pink", -35, 0), ("white", -35, 0)]


def vad_blocks(pcm: np.ndarray) -> np.ndarray:
    vad, out, start = VoiceActivity(), np.zeros(pcm.size // speech.BLOCK, bool), None
    for k in range(pcm.size // speech.FRAME):
        a = vad.push(pcm[k * speech.FRAME:(k + 1) * speech.FRAME])
        if a.end is not None and start is not None:
            out[round(start * 100):round(a.end * 100)] = True
            start = None
        if a.start is not None:
            start = a.start
    if start is not None:
        out[round(start * 100):round(vad._last * 100)] = True
    return out


def vad_report() -> None:
    print("voice activity, 10 ms blocks against the clean recording's own speech:")
    for name in ("input_service", "input_assistant"):
        clean = read_mono(AUDIO / f"{name}.wav", speech.RATE)
        ref = speech.speech_blocks(clean)
        for kind, level, seed in NOISES:
            pcm = clean if level is None else clean + speech.noise(kind, clean.size, level, seed)
            got = vad_blocks(pcm)
            n = min(got.size, ref.size)
            got, r = got[:n], ref[:n]
            print(f"  {name:16} {kind:5} {str(level):>4} dBFS  agreement {np.mean(got == r):.3f}"
                  f"  speech found {np.sum(got & r) / r.sum():.3f}"
                  f"  silence called speech {np.sum(got & ~r) / (~r).sum():.3f}")


def boundary_report() -> None:
    print("turn boundaries (tracker minus reference, ms), user and assistant alternating:")
    user = speech.track(18, [("service", 1.0), ("answer", 10.9)])
    played = speech.track(18, [("question", 5.0)])
    refs = {USER: speech.spans(speech.speech_blocks(user), 0.8),
            "assistant": speech.spans(speech.speech_blocks(played), 0.8)}
    for kind, level, seed in NOISES:
        for seed in range(3):
            mic = user if level is None else user + speech.noise(kind, user.size, level, seed)
            got = speech.turns(speech.run(mic, played))
            errs = []
            for t in got:
                ref = min(refs[t.speaker], key=lambda r: abs(r[0] - t.start))
                errs.append((round((t.start - ref[0]) * 1000), round((t.end - ref[1]) * 1000)))
            print(f"  {kind:5} {str(level):>4} seed {seed}: {len(got)} turns "
                  f"(reference {sum(map(len, refs.values()))}); start/end errors {errs}")
            if level is None:
                break


def _ms(times) -> str:
    ms = np.array(times) * 1000
    return (f"p50 {np.median(ms):.3f} ms, p99 {np.percentile(ms, 99):.3f} ms, "
            f"max {ms.max():.3f} ms ({ms.size} frames)")


def cost_report() -> None:
    user = speech.track(40, [("service", 1.0), ("answer", 20.0)])
    user += speech.noise("pink", user.size, -50)
    played = speech.track(40, [("question", 8.0), ("word", 22.0)])
    frames = [slice(k * speech.FRAME, (k + 1) * speech.FRAME)
              for k in range(user.size // speech.FRAME)]
    tracker, times = TurnTracker(), []
    for k, s in enumerate(frames):
        t = time.perf_counter()
        tracker.push(user[s], played[s], "\u2581ok" if k % 7 == 0 else None)
        times.append(time.perf_counter() - t)
    print(f"turn tracker per frame: {_ms(times)}")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["ARCUS_DATA_DIR"] = tmp
        from arcus_desktop.audio.recording import ConversationRecorder

        rec, times = ConversationRecorder(persona="bench"), []
        for k, s in enumerate(frames):
            t = time.perf_counter()
            rec.write(played[s], user[s], "\u2581ok" if k % 7 == 0 else None)
            times.append(time.perf_counter() - t)
        t = time.perf_counter()
        rec.finish()
        end = (time.perf_counter() - t) * 1000
    print(f"recorder per frame: {_ms(times)}; finish {end:.1f} ms")


if __name__ == "__main__":
    vad_report()
    boundary_report()
    cost_report()
