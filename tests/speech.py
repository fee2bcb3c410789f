"""Conversations made from the real recordings in shared/audio: their three utterances
and a short word cut from one, placed on a user track (the microphone) and an assistant
track (what was played) with silence between, plus a room's noise on the microphone.
The reference says where speech is from the clean tracks themselves."""

from __future__ import annotations

import functools

import numpy as np

from arcus_desktop.audio.files import read_mono
from arcus_desktop.core.turns import Backchannel, TurnEnded, TurnStarted, TurnTracker

from .conftest import AUDIO

RATE, FRAME, BLOCK = 24_000, 1920, 240
REF_DB = -55.0  # a clean 10 ms block louder than this is speech (the recordings' floor is -72)
REF_BRIDGE_S = 0.2  # pauses this short inside speech count as speech (the VAD's hangover)

# Where speech is in the recordings (seconds), from their 10 ms levels.
_CUTS = {"service": ("input_service.wav", 5.18, 8.35),
         "question": ("input_assistant.wav", 3.27, 7.72),
         "answer": ("input_assistant.wav", 21.75, 26.0),
         "word": ("input_assistant.wav", 21.75, 22.20)}  # about half a second: "uh-huh" sized


@functools.cache
def clip(name: str) -> np.ndarray:
    file, start, end = _CUTS[name]
    pcm = read_mono(AUDIO / file, RATE)[int(start * RATE):int(end * RATE)].copy()
    pcm[-BLOCK:] *= np.linspace(1.0, 0.0, BLOCK, dtype=np.float32)  # no click where it is cut
    return pcm


def noise(kind: str, n: int, level_db: float, seed: int = 0) -> np.ndarray:
    """White, pink (1/f) or brown (1/f²) noise at `level_db` dBFS RMS."""
    rng = np.random.default_rng(seed)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(spectrum.size, dtype=np.float64)
    f[0] = 1.0
    spectrum /= {"white": 1.0, "pink": np.sqrt(f), "brown": f}[kind]
    y = np.fft.irfft(spectrum, n)
    return (y / y.std() * 10 ** (level_db / 20)).astype(np.float32)


def track(duration: float, items) -> np.ndarray:
    """`items`: (clip name, start seconds[, keep only this many seconds])."""
    out = np.zeros(int(duration * RATE) // FRAME * FRAME, np.float32)
    for name, at, *keep in items:
        c = clip(name)
        if keep:
            c = c[:int(keep[0] * RATE)].copy()
            c[-BLOCK:] *= np.linspace(1.0, 0.0, BLOCK, dtype=np.float32)
        i = int(round(at * RATE))
        out[i:i + c.size] += c[:out.size - i]
    return out


def speech_blocks(pcm: np.ndarray) -> np.ndarray:
    """The reference: which 10 ms blocks of a clean track are speech."""
    blocks = pcm[:pcm.size // BLOCK * BLOCK].reshape(-1, BLOCK).astype(np.float64)
    speech = 10 * np.log10(np.mean(blocks ** 2, axis=1) + 1e-12) > REF_DB
    idx = np.flatnonzero(speech)
    bridge = round(REF_BRIDGE_S * 100)
    for a, b in zip(idx[:-1], idx[1:]):
        if b - a <= bridge:
            speech[a:b] = True
    return speech


def spans(blocks: np.ndarray, merge_s: float = 0.0) -> list[tuple[float, float]]:
    """Runs of True blocks as (start, end) seconds, runs less than `merge_s` apart joined."""
    edges = np.diff(np.concatenate([[0], blocks.astype(np.int8), [0]]))
    out: list[list[float]] = []
    for a, b in zip(np.flatnonzero(edges == 1) / 100, np.flatnonzero(edges == -1) / 100):
        if out and a - out[-1][1] <= merge_s:
            out[-1][1] = float(b)
        else:
            out.append([float(a), float(b)])
    return [(a, b) for a, b in out]


def run(mic: np.ndarray, played: np.ndarray, assistant_pieces=None, user_pieces=None,
        tracker: TurnTracker | None = None):
    """Frames through a tracker; returns (time each event came out, event) pairs."""
    tracker = tracker or TurnTracker()
    assistant_pieces, user_pieces = assistant_pieces or {}, user_pieces or {}
    events = []
    for k in range(mic.size // FRAME):
        s = slice(k * FRAME, (k + 1) * FRAME)
        for e in tracker.push(mic[s], played[s], assistant_pieces.get(k), user_pieces.get(k)):
            events.append((round((k + 1) * FRAME / RATE, 2), e))
    events += [(None, e) for e in tracker.finish()]
    return events


def turns(events):
    return [e.turn for _, e in events if isinstance(e, TurnEnded)]


def started(events):
    return [e for _, e in events if isinstance(e, TurnStarted)]


def backchannels(events):
    return [e for _, e in events if isinstance(e, Backchannel)]


def pieces_at(start: float, *pieces: str) -> dict[int, str]:
    """Text pieces on consecutive frames from `start` seconds."""
    first = int(round(start * RATE / FRAME))
    return {first + i: p for i, p in enumerate(pieces)}
