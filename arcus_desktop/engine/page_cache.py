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


FILL_CHUNK = 8 * 2**20  # one readahead request (the kernel caps a larger one)
FILL_PATIENCE_S = 5.0  # the thread gives up when the cache stops growing for this long
_filling: dict[Path, threading.Thread] = {}
_lock = threading.Lock()


def fill_in_background(path: Path) -> threading.Thread:
    """Ask the kernel to read `path` into the page cache (readahead, no copy into this
    process: a fifth of the processor time of reading it here, measured), on a daemon
    thread that ends when the file is cached or the cache stops growing; one thread per
    file at a time."""
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
    if not hasattr(os, "posix_fadvise"):
        return  # (only Linux reads around the cache, so only it needs filling)
    try:
        size = os.path.getsize(path)
        fd = os.open(path, os.O_RDONLY)
        try:
            for offset in range(0, size, FILL_CHUNK):
                os.posix_fadvise(fd, offset, FILL_CHUNK, os.POSIX_FADV_WILLNEED)
        finally:
            os.close(fd)
    except OSError:
        return  # only a cache: the next start reads the disk instead
    # The requests complete after the calls return: wait for them, so that the end of
    # this thread means the file is cached (or as cached as memory allows).
    never, best, stalled, pause = threading.Event(), -1.0, 0.0, 0.2
    while stalled < FILL_PATIENCE_S:
        share = resident_share(path)
        if share >= 0.999:
            return
        stalled = 0.0 if share > best else stalled + pause
        best = max(best, share)
        never.wait(pause)  # (an Event nobody sets: a pause that is not a bare sleep)
