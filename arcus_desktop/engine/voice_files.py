"""The voices' files without torch: which preset voices voices.tgz holds (the settings
list them; `voices.VoiceLibrary` loads them) and the key a prepared recording of the
user's voice is cached under."""

from __future__ import annotations

import hashlib
import os
import tarfile
from pathlib import Path

from ..core.errors import CorruptFileError
from . import checkpoint

PREP_VERSION = "1"  # bump when the way a recording is prepared changes


def preset_index(archive: str | os.PathLike) -> dict[str, str]:
    """Voice name -> its member in voices.tgz (the `.pt` files; read, not extracted)."""
    try:
        with tarfile.open(archive, "r:*") as tar:
            return {Path(m.name).stem: m.name for m in tar.getmembers()
                    if m.isfile() and m.name.endswith(".pt")}
    except (OSError, tarfile.TarError, EOFError) as e:
        raise CorruptFileError("voices.tgz is damaged.", checkpoint.REDOWNLOAD_HINT,
                               str(archive)) from e


def preset_voice_names(archive: str | os.PathLike) -> list[str]:
    return sorted(preset_index(archive))


def codec_fingerprint(mimi_path: Path) -> str:
    """Cheap identity of the codec weights: size plus a hash of the header."""
    size = mimi_path.stat().st_size
    with open(mimi_path, "rb") as f:
        head = f.read(1 << 16)
    return hashlib.sha256(head + str(size).encode()).hexdigest()[:16]


def recording_key(path: Path, mimi_path: Path) -> str:
    """A recording's content hash, the codec's and the preparation's version."""
    digest = checkpoint.file_hash(path, hashlib.sha256())
    return f"{digest}-{codec_fingerprint(mimi_path)}-v{PREP_VERSION}"
