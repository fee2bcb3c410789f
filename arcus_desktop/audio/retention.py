"""The saved conversations in the data folder, and how many of them are kept. A
conversation is the files sharing one stem (<UTC start>-<id>): .wav, .json, and while it
is being recorded a .journal. Only files named like that are ever deleted, and never
those of a conversation still in progress."""

from __future__ import annotations

import calendar
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from ..core import paths

STEM = paths.RECORDING_STEM
SUFFIXES = (".wav", ".json", ".journal")
active: set[str] = set()  # stems this process is recording now


def folder() -> Path:
    return paths.recordings_dir()


def new_stem(started_at: float) -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime(started_at)) + "-" + uuid.uuid4().hex[:6]


@dataclass
class Saved:
    stem: str
    started_at: float
    files: list[Path] = field(default_factory=list)
    size: int = 0

    @property
    def in_progress(self) -> bool:
        return self.stem in active or any(f.suffix == ".journal" for f in self.files)


def saved(directory: Path | None = None) -> list[Saved]:
    """Every saved conversation, oldest first."""
    directory = directory or folder()
    found: dict[str, Saved] = {}
    try:
        entries = list(directory.iterdir())
    except OSError:
        return []
    for path in entries:
        m = STEM.match(path.stem)
        if path.suffix not in SUFFIXES or not m or not path.is_file():
            continue
        conv = found.get(path.stem)
        if conv is None:
            started = calendar.timegm(time.strptime(m.group(1), "%Y%m%d-%H%M%S"))
            conv = found[path.stem] = Saved(path.stem, float(started))
        conv.files.append(path)
        try:
            conv.size += path.stat().st_size
        except OSError:
            pass
    return sorted(found.values(), key=lambda c: (c.started_at, c.stem))


def prune(keep_days: float, keep_gb: float, directory: Path | None = None,
          now: float | None = None) -> list[str]:
    """Delete finished conversations older than `keep_days`, then the oldest while all of
    them together take more than `keep_gb` (0 means no limit). Returns the stems gone."""
    now = time.time() if now is None else now
    convs = saved(directory)
    total = sum(c.size for c in convs)
    gone: list[str] = []
    for conv in convs:
        if conv.in_progress:
            continue
        too_old = keep_days > 0 and conv.started_at < now - keep_days * 86_400
        too_big = keep_gb > 0 and total > keep_gb * 1e9
        if not (too_old or too_big):
            continue
        try:
            for path in conv.files:
                path.unlink(missing_ok=True)
        except OSError:  # in use or not ours to delete: the next prune tries again
            continue
        total -= conv.size
        gone.append(conv.stem)
    return gone
