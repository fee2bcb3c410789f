"""Offline conversation: a recording in, the model's reply as a WAV and a transcript out."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..audio import files as audio_files
from ..core.errors import AudioFileError, DiskFullError
from ..core.persona import Persona
from ..core.transcript import Transcript
from . import constants as C
from .engine import Engine, seed_everything
from .frame_loop import FrameLoop
from .generator import Sampling


MAX_INPUT_SECONDS = 600.0  # 10 minutes: past 4 the persona has left the model's context


@dataclass
class ConversationResult:
    seconds: float
    frames: int
    prefill_ms: float
    frame_ms_p50: float
    frame_ms_p99: float
    transcript: Transcript
    notes: list[str]
    user: Transcript | None = None  # the user's words; None without a speech-to-text model


def converse(engine: Engine, input_path: str | os.PathLike, output_path: str | os.PathLike,
             transcript_path: str | os.PathLike, persona: Persona, sampling: Sampling = Sampling(),
             seed: int | None = None,
             progress: Callable[[int, int], None] | None = None) -> ConversationResult:
    pcm = _read_input(input_path)
    prepared = engine.prepare(persona)
    seed_everything(seed)
    n_frames = -(-pcm.size // C.FRAME_SIZE)
    padded = np.zeros(n_frames * C.FRAME_SIZE, dtype=np.float32)
    padded[: pcm.size] = pcm
    out = np.zeros_like(padded)
    frame_s = C.FRAME_SIZE / C.SAMPLE_RATE
    transcript = Transcript(frame_s)
    user = Transcript(frame_s) if engine.stt is not None else None
    seconds = pcm.size / C.SAMPLE_RATE
    stt_note = " ".join(part for part in (engine.stt_note, engine.stt_hint) if part)
    notes = list(prepared.notes) + ([stt_note] if stt_note else [])
    times = []
    with FrameLoop(engine, prepared, sampling) as loop:
        for i in range(n_frames):
            res = loop.process(padded[i * C.FRAME_SIZE:(i + 1) * C.FRAME_SIZE])
            out[i * C.FRAME_SIZE:(i + 1) * C.FRAME_SIZE] = res.pcm
            if res.piece is not None:
                # The frame completed at step i is what plays from i * 80 ms on.
                transcript.add(res.text_token, res.piece, i * frame_s)
            _add_user(user, res, seconds)
            times.append(res.compute_ms)
            if progress:
                progress(i + 1, n_frames)
        for res in loop.flush_user():  # the user's last words come out after the audio
            _add_user(user, res, seconds)
    if user is not None and user.words:
        user.words[-1].end = min(user.words[-1].end, round(seconds, 3))
    audio_files.write_wav(output_path, out[: pcm.size], C.SAMPLE_RATE)
    result = ConversationResult(
        seconds=seconds, frames=n_frames, prefill_ms=loop.prefill_ms,
        frame_ms_p50=float(np.percentile(times, 50)), frame_ms_p99=float(np.percentile(times, 99)),
        transcript=transcript, notes=notes, user=user)
    _write_json(transcript_path, {
        "input": str(input_path),
        "output": str(output_path),
        "sample_rate": C.SAMPLE_RATE,
        "duration": round(result.seconds, 3),
        "persona": {"voice": prepared.voice, "prompt_tokens": len(prepared.text.tokens),
                    "prompt_truncated_by": prepared.text.dropped_tokens},
        "seed": seed,
        "notes": notes,
        "model": transcript.to_dict(),
        "user": None if user is None else dict(user.to_dict(), delay=engine.stt.delay_s),
    })
    return result


def _read_input(path) -> np.ndarray:
    """The user's side, refused when longer than a conversation may be; only that much
    is ever decoded (a small file can hold hours of silence)."""
    clip = audio_files.read_clip(path, C.SAMPLE_RATE, MAX_INPUT_SECONDS)
    if clip.trimmed > 0:
        raise AudioFileError(
            f"{Path(path).name} is {clip.seconds / 60:.0f} minutes long; a conversation "
            f"takes at most {MAX_INPUT_SECONDS / 60:.0f} minutes.",
            "Cut the recording into shorter parts and give them one at a time.")
    return clip.pcm


def _add_user(user: Transcript | None, res, seconds: float) -> None:
    """A piece of the user's words; none that would start after the recording ended."""
    if user is not None and res.user_piece is not None and res.user_time < seconds:
        user.add(res.user_token, res.user_piece, res.user_time)


def _write_json(path: str | os.PathLike, data: dict) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        if e.errno == 28:
            raise DiskFullError(f"The disk is full: {path.name} could not be written.",
                                "Free some space and try again.") from e
        raise
