"""Voices uploaded with `POST /api/voices`: decoded and normalised here, Mimi-encoded
on the engine's thread, kept by content hash until the server stops."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections import OrderedDict

import numpy as np

from ..audio.files import normalize_loudness, read_clip
from ..core.errors import AudioFileError

PREFIX = "custom-"
SAMPLE_RATE = 24000
# Decoded float32, every channel before the mix: at most what the part used takes in
# stereo at 48 kHz. A few hundred KB of FLAC can claim 8 channels at 384 kHz (370 MB).
DECODE_RATE, DECODE_CHANNELS = 48000, 2


class VoiceStore:
    """Uploaded voices (engine VoiceCodes) by name; the least recently used go first."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._voices: OrderedDict[str, tuple[object, dict]] = OrderedDict()

    def get(self, name: str):
        entry = self._voices.get(name)
        if entry is None:
            return None
        self._voices.move_to_end(name)
        return entry[0]

    def info(self, name: str) -> dict:
        return self._voices[name][1]

    def put(self, voice, info: dict) -> None:
        self._voices[voice.name] = (voice, info)
        self._voices.move_to_end(voice.name)
        while len(self._voices) > self.limit:
            self._voices.popitem(last=False)

    def names(self) -> list[str]:
        return list(self._voices)


def name_of(body: bytes) -> tuple[str, str]:
    digest = hashlib.sha256(body).hexdigest()
    return PREFIX + digest[:16], digest


def decode(body: bytes, max_seconds: float) -> tuple[np.ndarray, float, float]:
    """24 kHz mono samples of an uploaded file, at most `max_seconds`, at -24 LUFS;
    with the upload's length and what was cut. Only the part used is decoded: a small
    file can hold hours of silence. Raises AudioFileError."""
    fd, path = tempfile.mkstemp(prefix="arcus-voice-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(body)
        # One second over: read_clip asks for a little past max_seconds.
        cap = int((max_seconds + 1) * DECODE_RATE * DECODE_CHANNELS * 4)
        clip = read_clip(path, SAMPLE_RATE, max_seconds, max_decode_bytes=cap)
    except AudioFileError as e:  # its text names the temporary file: name the upload
        raise AudioFileError(e.message.replace(os.path.basename(path), "The upload"),
                             e.hint) from None
    except Exception as e:  # a decoder's own failure on hostile bytes
        raise AudioFileError("The upload is not an audio file that can be read.") from e
    finally:
        os.unlink(path)
    return normalize_loudness(clip.pcm, SAMPLE_RATE), clip.seconds, clip.trimmed
