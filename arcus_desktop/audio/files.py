"""Read any common audio file as mono float32 at a chosen rate; write WAV."""

from __future__ import annotations

import errno
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import AudioFileError, DiskFullError

FORMATS_HINT = "Use a WAV, FLAC, MP3 or OGG recording."

# Bounds on what is decoded, checked before decoding: a small file can claim hours of
# audio (silence compresses to almost nothing) or an absurd sample rate, and the decoder
# allocates the whole stretch asked for at once.
MAX_FILE_BYTES = 1 << 30
MIN_RATE, MAX_RATE = 4_000, 384_000
MAX_CHANNELS = 8
MAX_DECODE_BYTES = 512 << 20  # float32 samples of every channel, before mixing
DEFAULT_MAX_SECONDS = 600.0


@dataclass
class Clip:
    pcm: np.ndarray  # mono float32 at the asked rate, at most max_seconds of it
    seconds: float  # the file's length from start_s on, as far as it is known
    trimmed: float  # seconds past max_seconds, left out


def read_clip(path: str | os.PathLike, sample_rate: int, max_seconds: float,
              max_bytes: int = MAX_FILE_BYTES, start_s: float = 0.0,
              max_decode_bytes: int = MAX_DECODE_BYTES) -> Clip:
    """The first `max_seconds` of `path` (from `start_s` on), mixed to mono and resampled
    to `sample_rate`; only that much is ever decoded, and a file that would decode to
    more than `max_decode_bytes` (float32, every channel) is refused first. Raises
    AudioFileError."""
    import sphn

    path = Path(path)
    if not path.is_file():
        raise AudioFileError(f"{path} does not exist.", "Check the path and try again.")
    size = path.stat().st_size
    if size > max_bytes:
        raise AudioFileError(f"{path.name} is {size / 2**20:.0f} MiB; the limit is "
                             f"{max_bytes / 2**20:.0f} MiB.", "Use a shorter recording.")
    try:
        reader = sphn.FileReader(str(path))
        rate, channels, known = int(reader.sample_rate), int(reader.channels), reader.duration_sec
    except (ValueError, OSError, RuntimeError) as e:
        raise AudioFileError(f"{path.name} is not an audio file that can be read.", FORMATS_HINT) from e
    if not (MIN_RATE <= rate <= MAX_RATE and 1 <= channels <= MAX_CHANNELS):
        raise AudioFileError(f"{path.name} has {channels} channels at {rate} Hz, which is "
                             "not supported.", f"Use a recording of 1 to {MAX_CHANNELS} channels "
                             f"at {MIN_RATE // 1000} to {MAX_RATE // 1000} kHz.")
    known = float(known) if known and math.isfinite(known) and known > 0 else None
    start_s = max(0.0, float(start_s))
    if known is not None:
        known = max(0.0, known - start_s)
    # One frame past the cap tells whether there was more; the header's length (when
    # there is one) keeps a short file from reserving the whole cap.
    want = max_seconds + 0.1 if known is None else min(max_seconds + 0.1, known + 1.0)
    if want * rate * channels * 4 > max_decode_bytes:
        raise AudioFileError(f"{path.name} is too large to read ({channels} channels at "
                             f"{rate} Hz for {want:.0f} s).",
                             "Convert it to mono or stereo at 48 kHz, or shorten it.")
    try:
        data = reader.decode(start_s, want)
    except BaseException as e:  # sphn's Rust panics are BaseExceptions, past `except Exception`
        if not isinstance(e, (ValueError, OSError, RuntimeError)) and not _panic(e):
            raise
        raise AudioFileError(f"{path.name} is not an audio file that can be read.", FORMATS_HINT) from e
    data = np.asarray(data, dtype=np.float32)
    if data.ndim == 1:
        data = data[None]
    if data.size == 0 or data.shape[-1] == 0:
        raise AudioFileError(f"{path.name} holds no audio.", FORMATS_HINT)
    decoded = data.shape[-1] / rate
    seconds = max(decoded, known or 0.0) if decoded > max_seconds else decoded
    trimmed = max(0.0, seconds - max_seconds)
    data = data[:, : int(max_seconds * rate)]
    mono = data if data.shape[0] == 1 else data.mean(axis=0, keepdims=True)
    mono = np.ascontiguousarray(mono)
    del data
    if not np.isfinite(mono).all():  # before resampling: sphn's resampler panics on NaN
        raise AudioFileError(f"{path.name} holds damaged samples.", FORMATS_HINT)
    if rate != sample_rate:
        # Not sphn.read(duration_sec=, sample_rate=): it resamples every channel before
        # the mix and returns the resampler's whole last block, so the decoded length (a
        # file cut short holds less than its header says) would be lost.
        # The resampler adds a little tail; keep the duration exact.
        want_n = round(mono.shape[-1] * sample_rate / rate)
        mono = sphn.resample(mono, rate, sample_rate)[:, :want_n]
        mono = np.pad(mono, ((0, 0), (0, want_n - mono.shape[-1])))
    mono = mono[0]
    if not np.isfinite(mono).all():  # huge finite samples can still resample to inf
        raise AudioFileError(f"{path.name} holds damaged samples.", FORMATS_HINT)
    return Clip(np.ascontiguousarray(mono, dtype=np.float32), seconds, trimmed)


def read_mono(path: str | os.PathLike, sample_rate: int,
              max_seconds: float = DEFAULT_MAX_SECONDS) -> np.ndarray:
    """Samples of `path` mixed to mono and resampled to `sample_rate`, as float32: at
    most its first `max_seconds`."""
    return read_clip(path, sample_rate, max_seconds).pcm


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
        try:
            sphn.write_wav(str(tmp), np.asarray(pcm, dtype=np.float32)[None], sample_rate)
        except ValueError as e:  # sphn's own I/O error: '"<path>": <reason> (os error N)'
            if (code := _os_error(str(e))) is None:
                raise
            raise OSError(code, os.strerror(code), str(tmp)) from e
        os.replace(tmp, path)
    except OSError as e:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:  # not a file (a folder of that name): the error below says enough
            pass
        if e.errno == errno.ENOSPC:
            raise DiskFullError(f"The disk is full: {path.name} could not be written.",
                                "Free some space and try again.") from e
        raise AudioFileError(f"{path} could not be written ({e.strerror}).",
                             "Choose another output folder.") from e


def _panic(e: BaseException) -> bool:
    """pyo3's PanicException: a Rust library (sphn) gave up on its input."""
    return type(e).__name__ == "PanicException"


def _os_error(text: str) -> int | None:
    """The errno in the text of an error that sphn (Rust) raises as a ValueError."""
    found = re.search(r"\(os error (\d+)\)\s*$", text)
    return int(found.group(1)) if found else None
