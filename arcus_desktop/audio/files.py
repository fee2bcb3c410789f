"""Read any common audio file as mono float32 at a chosen rate; write WAV."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np

from ..core.errors import AudioFileError, DiskFullError

FORMATS_HINT = "Use a WAV, FLAC, MP3 or OGG recording."


def read_mono(path: str | os.PathLike, sample_rate: int) -> np.ndarray:
    """Samples of `path` mixed to mono and resampled to `sample_rate`, as float32."""
    import sphn

    path = Path(path)
    if not path.is_file():
        raise AudioFileError(f"{path} does not exist.", "Check the path and try again.")
    try:
        data, rate = sphn.read(str(path))
    except (ValueError, OSError, RuntimeError) as e:
        raise AudioFileError(f"{path.name} is not an audio file that can be read.", FORMATS_HINT) from e
    data = np.asarray(data, dtype=np.float32)
    if data.ndim == 1:
        data = data[None]
    if data.size == 0 or data.shape[-1] == 0:
        raise AudioFileError(f"{path.name} holds no audio.", FORMATS_HINT)
    mono = np.ascontiguousarray(data.mean(axis=0, keepdims=True))
    if rate != sample_rate:
        # The resampler adds a little tail; keep the duration exact.
        want = round(mono.shape[-1] * sample_rate / rate)
        mono = sphn.resample(mono, rate, sample_rate)[:, :want]
        mono = np.pad(mono, ((0, 0), (0, want - mono.shape[-1])))
    mono = mono[0]
    if not np.isfinite(mono).all():
        raise AudioFileError(f"{path.name} holds damaged samples.", FORMATS_HINT)
    return np.ascontiguousarray(mono, dtype=np.float32)


def normalize_loudness(pcm: np.ndarray, sample_rate: int, target_lufs: float = -24.0) -> np.ndarray:
    """Scale to `target_lufs` (ITU-R BS.1770), without clipping."""
    import pyloudnorm

    # BS.1770 gating needs at least one 400 ms block.
    padded = pcm if pcm.size >= int(0.4 * sample_rate) else np.pad(pcm, (0, int(0.4 * sample_rate) - pcm.size))
    loudness = pyloudnorm.Meter(sample_rate).integrated_loudness(padded.astype(np.float64))
    if not np.isfinite(loudness):
        return pcm  # silence stays silence
    out = pcm * np.float32(10.0 ** ((target_lufs - loudness) / 20.0))
    peak = float(np.abs(out).max())
    if peak > 0.99:
        out *= np.float32(0.99 / peak)
    return out.astype(np.float32)


def write_wav(path: str | os.PathLike, pcm: np.ndarray, sample_rate: int) -> None:
    """Write mono float PCM as a WAV file, atomically."""
    import sphn

    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        sphn.write_wav(str(tmp), np.asarray(pcm, dtype=np.float32)[None], sample_rate)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        if e.errno == errno.ENOSPC:
            raise DiskFullError(f"The disk is full: {path.name} could not be written.",
                                "Free some space and try again.") from e
        raise AudioFileError(f"{path} could not be written ({e.strerror}).",
                             "Choose another output folder.") from e
