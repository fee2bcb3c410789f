"""How much of a file the operating system already holds in memory (Linux's mincore), so
the weights' reader can choose between the page cache and direct reads from the disk; and
filling the cache with a file in the background after a direct read, so that the next
start (an engine restarted after a crash, the app relaunched) reads it from memory as
it did when every read went through the cache."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import mmap
import os
import threading
from pathlib import Path

_PROT_READ, _MAP_SHARED = 1, 1
_FAILED = ctypes.c_void_p(-1).value


@functools.cache
def _libc():
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    return libc


def resident_share(path: Path) -> float:
    """The share of `path`'s pages in the page cache, 0..1. Mapping the file reads none of
    it. Where this cannot be told (not Linux, an error): 1.0, i.e. "read it as usual"."""
    try:
        size = os.path.getsize(path)
        if size == 0:
            return 1.0
        libc = _libc()
        fd = os.open(path, os.O_RDONLY)
        try:
            addr = libc.mmap(None, size, _PROT_READ, _MAP_SHARED, fd, 0)
        finally:
            os.close(fd)
        if addr in (None, _FAILED):
            return 1.0
        try:
            pages = -(-size // mmap.PAGESIZE)
            vec = (ctypes.c_ubyte * pages)()
            if libc.mincore(addr, size, vec) != 0:
                return 1.0
            return (pages - bytes(vec).count(0)) / pages  # Linux sets only the low bit
        finally:
            libc.munmap(addr, size)
    except (OSError, AttributeError):
        return 1.0


FILL_CHUNK = 8 * 2**20
_filling: dict[Path, threading.Thread] = {}
_lock = threading.Lock()


def fill_in_background(path: Path) -> threading.Thread:
    """Read `path` through the page cache on a daemon thread (into a small buffer that is
    thrown away); one thread per file at a time."""
    with _lock:
        running = _filling.get(path)
        if running is not None and running.is_alive():
            return running
        thread = threading.Thread(target=_fill, args=(path,), name="page-cache-fill", daemon=True)
        _filling[path] = thread
        thread.start()
        return thread


def filling(path: Path) -> threading.Thread | None:
    """The thread filling the cache with `path`, if one was started."""
    with _lock:
        return _filling.get(path)


def _fill(path: Path) -> None:
    buffer = bytearray(FILL_CHUNK)
    try:
        with open(path, "rb", buffering=0) as f:
            if hasattr(os, "posix_fadvise"):
                os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
            while f.readinto(buffer):
                pass
    except OSError:
        pass  # only a cache: the next start reads the disk instead
