"""Voice samples: a short greeting the model says in each preset voice, made by the
engine process on request and kept in the data folder, so a voice is heard at once the
second time. The engine empties the folder when it loads other weights (see `claim`)."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

from . import paths

PROMPT = "You greet the user warmly. Say hello."
SECONDS = 3.0  # the sample's length
MAX_SECONDS = 5.0  # whatever is asked, the engine makes no more than this
SEED = 1234  # the same voice says the same thing each time it is made
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_STAMP = "model.txt"


def folder() -> Path:
    return paths.data_dir() / "voice-samples"


def path_for(voice: str) -> Path | None:
    """Where `voice`'s sample is kept; None for a name that is no plain preset name."""
    return folder() / f"{voice}.wav" if _NAME.match(voice or "") else None


def claim(model_identity: object) -> None:
    """The engine loaded `model_identity`'s weights: samples of other weights are gone."""
    stamp = hashlib.sha256(repr(model_identity).encode()).hexdigest()
    where = folder()
    try:
        if (where / _STAMP).read_text() == stamp:
            return
    except OSError:
        pass
    try:
        if where.is_dir():
            shutil.rmtree(where)
        where.mkdir(parents=True, exist_ok=True)
        (where / _STAMP).write_text(stamp)
    except OSError:
        pass  # no samples kept: made again next time, not wrong
