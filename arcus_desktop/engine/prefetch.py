"""Read the model file into the OS page cache while Python is still importing torch.

On a cold start the import (about 5 s) and the read of 17 GB of weights (about 11 s on
the device machine's disk) came one after the other; started first, this thread keeps
the disk busy during the import, and the load that follows finds what it read in memory.
No torch here: it must start before torch is imported.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

CHUNK = 16 << 20
HEADROOM = 1.25  # skip when memory is short: pages read now would be evicted before use


def start(model_dir: str | None) -> threading.Thread | None:
    """Begin reading the checkpoint's weights in a daemon thread; None when there is
    nothing to read or not enough free memory to keep it (Linux only: elsewhere the
    free memory is not known without another dependency). Errors are left to the load."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        from .checkpoint import locate

        path = locate(model_dir).lm
        size = path.stat().st_size
    except Exception:  # no model, a bad folder: the load says so properly
        return None
    if available_bytes() < size * HEADROOM:
        return None
    thread = threading.Thread(target=_read, args=(path,), name="arcus-prefetch", daemon=True)
    thread.start()
    return thread


def available_bytes(meminfo: str = "/proc/meminfo") -> int:
    try:
        for line in Path(meminfo).read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _read(path: Path) -> None:
    buf = bytearray(CHUNK)
    try:
        with open(path, "rb", buffering=0) as f:
            while f.readinto(buf):  # the GIL is released while the disk reads
                pass
    except OSError:
        pass
