"""What the settings need from the installed model, without torch: the preset voices
in voices.tgz (names only) and the sentencepiece text tokenizer, for counting the
persona's tokens exactly as the engine will (engine/voice_files.py, engine/tokenizer.py
and engine/prompt.py, the engine's own torch-free parts)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import ArcusError
from ..engine import checkpoint
from ..engine.checkpoint import locate  # noqa: F401 (where the model is, for the windows)
from ..engine.constants import PRESET_VOICES
from ..engine.prompt import count_tokens  # noqa: F401 (the persona page counts with it)
from ..engine.tokenizer import load_tokenizer
from ..engine.voice_files import preset_voice_names


@dataclass
class ModelInfo:
    installed: bool
    voices: list[str]  # found in voices.tgz; PersonaPlex's published list when not installed
    tokenizer: object | None = None  # sentencepiece.SentencePieceProcessor
    root: Path | None = None
    problems: list[str] = field(default_factory=list)  # for the user: what is missing and why


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
