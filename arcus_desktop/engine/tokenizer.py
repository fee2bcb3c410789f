"""PersonaPlex's text tokenizer (sentencepiece), without torch: the engine reads the
persona and writes the model's words with it, the settings count the persona's tokens
with it. sentencepiece is imported when a tokenizer is loaded (the client has none)."""

from __future__ import annotations

import os
from pathlib import Path

from ..core.errors import CorruptFileError
from . import checkpoint


def load_tokenizer(path: str | os.PathLike):
    """A sentencepiece.SentencePieceProcessor; CorruptFileError when it cannot be read."""
    import sentencepiece

    path = Path(path)
    try:
        return sentencepiece.SentencePieceProcessor(model_file=str(path))
    except (OSError, RuntimeError) as e:
        raise CorruptFileError(
            f"{path.name} is not a valid tokenizer model.", checkpoint.REDOWNLOAD_HINT, str(path)
        ) from e
