"""What the settings need from the installed model, without torch: the preset voices
in voices.tgz (names only) and the sentencepiece text tokenizer, for counting the
persona's tokens exactly as the engine will."""

from __future__ import annotations

import os
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import ArcusError
from ..core.system_tag import wrap
from ..engine import checkpoint
from ..engine.constants import PRESET_VOICES


@dataclass
class ModelInfo:
    installed: bool
    voices: list[str]  # found in voices.tgz; PersonaPlex's published list when not installed
    tokenizer: object | None = None  # sentencepiece.SentencePieceProcessor
    root: Path | None = None
    problems: list[str] = field(default_factory=list)  # for the user: what is missing and why


def preset_voice_names(archive: str | os.PathLike) -> list[str]:
    """Names of the `.pt` voices in voices.tgz (what the engine's VoiceLibrary lists)."""
    try:
        with tarfile.open(archive, "r:*") as tar:
            return sorted({Path(m.name).stem for m in tar.getmembers()
                           if m.isfile() and m.name.endswith(".pt")})
    except (OSError, tarfile.TarError, EOFError) as e:
        raise ArcusError("voices.tgz is damaged.", checkpoint.REDOWNLOAD_HINT) from e


def load_tokenizer(path: str | os.PathLike):
    import sentencepiece

    try:
        return sentencepiece.SentencePieceProcessor(model_file=str(path))
    except (OSError, RuntimeError) as e:
        raise ArcusError(f"The text tokenizer {Path(path).name} cannot be read.",
                         checkpoint.REDOWNLOAD_HINT) from e


def count_tokens(tokenizer, role: str) -> int:
    """Tokens of the role as the model reads it (wrapped in <system> tags), the number
    the engine holds to the token budget."""
    return len(tokenizer.encode(wrap(role)))


def read_model_info(model_dir: str | os.PathLike | None = None) -> ModelInfo:
    """Never raises: what cannot be read is said in `problems`."""
    from ..core import flavour

    if flavour.is_client():  # no local model to read (nor its tokenizer's library)
        return ModelInfo(False, list(PRESET_VOICES))
    try:
        files = checkpoint.locate(model_dir)
    except ArcusError as e:
        return ModelInfo(False, list(PRESET_VOICES), problems=[e.user_text()])
    info = ModelInfo(True, [], root=files.root)
    try:
        info.voices = preset_voice_names(files.voices)
    except ArcusError as e:
        info.problems.append(e.user_text())
    try:
        info.tokenizer = load_tokenizer(files.tokenizer)
    except ArcusError as e:
        info.problems.append(e.user_text())
    return info
