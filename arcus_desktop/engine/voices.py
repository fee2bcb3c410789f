"""Voices: the presets shipped in voices.tgz, and the user's own recordings."""

from __future__ import annotations

import io
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

from .torch_env import torch

from ..audio import files as audio_files
from ..audio.voice_check import MAX_VOICE_FILE_BYTES, MAX_VOICE_SECONDS
from ..core.errors import CorruptFileError, UnknownVoiceError
from . import checkpoint
from . import constants as C
from .voice_files import preset_index, recording_key


@dataclass
class PresetVoice:
    name: str
    embeddings: torch.Tensor  # [V-1, dim]: transformer inputs of the voice's positions
    ring: torch.Tensor  # [17, R]: token ring after the voice


@dataclass
class RecordedVoice:
    codes: torch.Tensor  # [V, 8] Mimi codes
    source: Path
    cached: bool  # prepared earlier and read back from the cache
    trimmed_seconds: float = 0.0  # audio past MAX_VOICE_SECONDS that was left out
    key: str = ""  # content hash of the recording, codec and preparation


class VoiceLibrary:
    """Preset voices read straight out of voices.tgz (no extraction needed)."""

    def __init__(self, archive: Path) -> None:
        self.archive = Path(archive)
        self._members: dict[str, str] | None = None

    def names(self) -> list[str]:
        return sorted(self._index())

    def _index(self) -> dict[str, str]:
        if self._members is None:
            self._members = preset_index(self.archive)
        return self._members

    def load(self, name: str, dim: int) -> PresetVoice:
        index = self._index()
        key = name.removesuffix(".pt")
        if key not in index:
            raise UnknownVoiceError(
                f"There is no preset voice called {name!r}.",
                "Choose one of: " + ", ".join(self.names()) + ", or use your own recording.")
        try:
            with tarfile.open(self.archive, "r:*") as tar:
                blob = tar.extractfile(index[key]).read()
            data = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
            embeddings = data["embeddings"].reshape(-1, dim)
            ring = data["cache"].reshape(C.NUM_STREAMS, -1)
        except (OSError, tarfile.TarError, EOFError, KeyError, RuntimeError, TypeError) as e:
            raise CorruptFileError(f"The preset voice {key} in voices.tgz is damaged.",
                                   checkpoint.REDOWNLOAD_HINT, str(self.archive)) from e
        return PresetVoice(key, embeddings, ring)


def encode_recording(mimi, pcm) -> torch.Tensor:
    """Mimi codes [V, 8] of 24 kHz mono audio, frame by frame from a fresh state."""
    import numpy as np

    frames = max(1, -(-pcm.size // C.FRAME_SIZE))
    padded = np.zeros(frames * C.FRAME_SIZE, dtype=np.float32)
    padded[: pcm.size] = pcm
    device = next(mimi.parameters()).device
    x = torch.from_numpy(padded).to(device)[None, None]
    with torch.no_grad(), mimi.streaming(1):
        codes = mimi.encode(x)  # [1, 8, frames]
    return codes[0].T.contiguous().cpu()


def prepare_recording(path: str | os.PathLike, mimi, mimi_path: Path, cache_dir: Path) -> RecordedVoice:
    """Codes of the user's recording; cached by file content, so a second use is instant."""
    path = Path(path)
    if not path.is_file():
        from ..core.errors import AudioFileError

        raise AudioFileError(f"The voice recording {path} does not exist.", "Pick another file.")
    key = recording_key(path, mimi_path)
    cached = cache_dir / "voices" / f"{key}.pt"
    if cached.is_file():
        try:
            data = torch.load(cached, map_location="cpu", weights_only=True)
            return RecordedVoice(data["codes"].long(), path, True, float(data["trimmed"]), key)
        except (OSError, RuntimeError, KeyError):
            cached.unlink(missing_ok=True)  # a damaged cache entry is just rebuilt
    # Only the part used is decoded: a small file can hold hours of silence.
    clip = audio_files.read_clip(path, C.SAMPLE_RATE, MAX_VOICE_SECONDS, MAX_VOICE_FILE_BYTES)
    trimmed = clip.trimmed
    pcm = audio_files.normalize_loudness(clip.pcm, C.SAMPLE_RATE)
    codes = encode_recording(mimi, pcm)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".part")
        torch.save({"codes": codes.short(), "trimmed": trimmed}, tmp)
        os.replace(tmp, cached)
    except OSError:
        pass  # no cache is slower next time, not wrong
    return RecordedVoice(codes, path, False, trimmed, key)
