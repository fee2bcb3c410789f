"""Read safetensors weights straight into device memory, several tensors at a time.

`safe_open(device="cuda")` reads one tensor at a time into pageable memory and copies
it, about 1.4 GB/s even from the page cache. Here worker threads read with `readinto`
(which releases the GIL) into their own (pinned, for a GPU) buffers and copy from there,
so disk reads, page-cache copies and host-to-device transfers overlap.

A file that is not in the page cache is read with direct I/O (O_DIRECT, whole aligned
blocks): the disk's blocks go straight to the buffers without a page-cache copy, and the
requests stay as large as the buffers. A file that is (mostly) cached is read through the
cache, which is faster than any disk.
"""

from __future__ import annotations

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .torch_env import torch

from ..core.errors import CorruptFileError
from . import checkpoint, page_cache

DTYPES = {
    "BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32, "F64": torch.float64,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
    "U8": torch.uint8, "BOOL": torch.bool, "F8_E4M3": torch.float8_e4m3fn,
}
CPU = torch.device("cpu")
CHUNK = 32 * 2**20
THREADS = 8
ALIGN = 4096  # what O_DIRECT needs of offsets, lengths and buffer addresses
# ARCUS_DIRECT_IO=0 never reads around the page cache, 1 always (benchmarks compare them);
# unset: around it when most of the file is not cached.
DIRECT = os.environ.get("ARCUS_DIRECT_IO", "")


def read(path: Path, wanted: dict[str, list[int] | None], device: torch.device,
         threads: int = THREADS, transform=None, progress=None,
         host: frozenset[str] = frozenset(), read_again: bool = True) -> dict[str, torch.Tensor]:
    """The tensors named in `wanted`. A shape there reads only that many leading rows.
    Names in `host` are read into host memory whatever `device` is (the offload mode).
    `transform(name, tensor)`, when given, turns each tensor into the entries to keep
    (a dict), right after it is read, so only its output stays in memory.
    `progress(done_bytes, total_bytes)` is called after each tensor, from reader threads.
    `read_again`: the next start will read this file too, so after a direct read the
    page cache is filled with it in the background (page_cache.fill_in_background)."""
    index = checkpoint.tensor_index(path)
    local = threading.local()
    opened: list = []
    total = sum(_nbytes(index[n], wanted[n]) for n in wanted)
    done = [0]
    lock = threading.Lock()
    direct = _direct(path)

    def one(name: str) -> tuple[str, torch.Tensor]:
        dtype, shape, begin, end = index[name]
        dev = CPU if name in host else device
        out = torch.empty(wanted[name] or shape, dtype=DTYPES[dtype], device=dev)
        raw = out.view(-1).view(torch.uint8)
        if begin + raw.numel() > end:
            raise CorruptFileError(f"{path.name} does not hold the tensor {name} it lists.",
                                   checkpoint.REDOWNLOAD_HINT, str(path))
        if not hasattr(local, "file"):
            local.file = _open(path, direct)
            opened.append(local.file)
            local.buffer = _aligned(CHUNK + ALIGN, pin=device.type == "cuda")
        for pos in range(0, raw.numel(), CHUNK):
            n = min(CHUNK, raw.numel() - pos)
            lead = (begin + pos) % ALIGN if direct else 0
            length = -(-(lead + n) // ALIGN) * ALIGN if direct else n
            _read_exact(local.file, begin + pos - lead, n + lead, local.buffer[:length], path)
            raw[pos:pos + n].copy_(local.buffer[lead:lead + n])
        result = transform(name, out) if transform else {name: out}
        if progress is not None:
            with lock:
                done[0] += raw.numel()
                progress(done[0], total)
        return result

    try:
        state: dict[str, torch.Tensor] = {}
        with ThreadPoolExecutor(threads) as pool:
            for part in pool.map(one, list(wanted)):
                state.update(part)
        if direct and read_again:
            page_cache.fill_in_background(path)
        return state
    finally:
        for f in opened:
            f.close()


def _direct(path: Path) -> bool:
    """Whether to read `path` around the page cache: when direct I/O is possible and
    little of the file is cached (the first read after a reboot, or of a new file)."""
    if DIRECT == "0" or not _direct_possible(path):
        return False
    return DIRECT == "1" or page_cache.resident_share(path) < 0.5


def _direct_possible(path: Path) -> bool:
    if not hasattr(os, "O_DIRECT"):
        return False
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_DIRECT))
    except OSError:  # e.g. tmpfs, or a file system without it
        return False
    return True


def _open(path: Path, direct: bool):
    if direct:
        return os.fdopen(os.open(path, os.O_RDONLY | os.O_DIRECT), "rb", buffering=0)
    return open(path, "rb", buffering=0)  # (portable: os.open would need O_BINARY on Windows)


def _aligned(nbytes: int, pin: bool) -> torch.Tensor:
    """A byte buffer whose first byte sits on an ALIGN boundary."""
    base = torch.empty(nbytes + ALIGN, dtype=torch.uint8, pin_memory=pin)
    skip = -base.data_ptr() % ALIGN
    return base[skip:skip + nbytes]


def _nbytes(entry: tuple, shape: list[int] | None) -> int:
    dtype, full, _, _ = entry
    return math.prod(shape or full) * torch.empty(0, dtype=DTYPES[dtype]).element_size()


def _read_exact(f, offset: int, need: int, into: torch.Tensor, path: Path) -> None:
    """At least `need` bytes of the file from `offset` into `into` (a direct read asks
    for whole blocks, so it may get up to a block more, or stop at the file's end)."""
    view = memoryview(into.numpy())
    f.seek(offset)
    done = 0
    while done < need:
        n = f.readinto(view[done:])
        if not n:
            raise CorruptFileError(f"{path.name} ends early: the download was cut short.",
                                   checkpoint.REDOWNLOAD_HINT, str(path))
        done += n
