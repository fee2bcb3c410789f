"""Whether a recording can be the assistant's voice: long enough, not silent, not too
quiet, not clipped. The same checks for a chosen file (when the settings are applied)
and for a recording made in the app (when it stops)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from . import files as audio_files
from .streams import RATE

# The engine uses the first MAX_VOICE_SECONDS of a recording (the rest is left out, and
# the user told); shorter than MIN_VOICE_SECONDS gives the model too little to go on.
MIN_VOICE_SECONDS = 5.0
MAX_VOICE_SECONDS = 30.0
MAX_VOICE_FILE_BYTES = 256 * 2**20  # a long recording is fine (its first 30 s are used)

BLOCK_S = 0.05
SILENT_DB = -60.0  # the loud parts (see _speech_db) under this: nothing was recorded
QUIET_DB = -40.0  # under this: speech, but too far from the microphone or its gain too low
CLIP_LEVEL = 0.998
CLIPPED_SHARE = 0.001  # of the samples at full scale: distorted


@dataclass
class VoiceCheck:
    seconds: float  # the recording's length (the whole file's, as far as it is known)
    level_db: float  # how loud its speech is, dBFS
    errors: list[str] = field(default_factory=list)  # it cannot be used
    warnings: list[str] = field(default_factory=list)  # usable, better re-recorded

    @property
    def ok(self) -> bool:
        return not self.errors


def _speech_db(pcm: np.ndarray, rate: int) -> float:
    """The level of the loudest 10% of 50 ms blocks: speech, whatever the pauses."""
    n = max(1, int(rate * BLOCK_S))
    blocks = pcm[: pcm.size // n * n].reshape(-1, n) if pcm.size >= n else pcm[None]
    rms = np.sqrt(np.mean(np.square(blocks, dtype=np.float64), axis=1))
    level = float(np.percentile(rms, 90))
    return 20 * np.log10(level) if level > 0 else -200.0


def check_pcm(pcm: np.ndarray, rate: int = RATE, seconds: float | None = None,
              what: str = "The recording") -> VoiceCheck:
    """Check mono float samples; `seconds` is the whole length when `pcm` is only its
    start."""
    seconds = pcm.size / rate if seconds is None else seconds
    level = _speech_db(pcm, rate) if pcm.size else -200.0
    result = VoiceCheck(seconds, level)
    if seconds < MIN_VOICE_SECONDS:
        result.errors.append(f"{what} is too short ({seconds:.1f} s): it needs at least "
                             f"{MIN_VOICE_SECONDS:.0f} s of speech.")
    if level < SILENT_DB:
        result.errors.append(f"{what} is silent: no voice can be heard in it.")
    elif level < QUIET_DB:
        result.warnings.append(f"{what} is very quiet ({level:.0f} dBFS): speak closer to the "
                               "microphone or raise its level, then record again.")
    if pcm.size and np.mean(np.abs(pcm) >= CLIP_LEVEL) > CLIPPED_SHARE:
        result.warnings.append(f"{what} is clipped (too loud, so distorted): speak a little "
                               "further from the microphone or lower its level, then record "
                               "again.")
    if seconds > MAX_VOICE_SECONDS:
        result.warnings.append(f"{what} is {seconds:.0f} s long: only its first "
                               f"{MAX_VOICE_SECONDS:.0f} s are used.")
    return result


def check_file(path: str | os.PathLike) -> VoiceCheck:
    """Read the part of `path` the engine would use (with the decoder's caps) and check
    it. AudioFileError when it is not an audio file that can be read."""
    from pathlib import Path

    clip = audio_files.read_clip(path, RATE, MAX_VOICE_SECONDS, MAX_VOICE_FILE_BYTES)
    return check_pcm(clip.pcm, RATE, clip.seconds, what=Path(path).name)
