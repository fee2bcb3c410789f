"""Read safetensors weights straight into device memory, several tensors at a time.

`safe_open(device="cuda")` reads one tensor at a time into pageable memory and copies
it, about 1.4 GB/s even from the page cache. Here worker threads read with `readinto`
(which releases the GIL) into their own pinned buffers and copy from there, so disk
reads, page-cache copies and host-to-device transfers overlap.
"""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .torch_env import torch

from ..core.errors import CorruptFileError
from . import checkpoint

DTYPES = {
    "BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32, "F64": torch.float64,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
    "U8": torch.uint8, "BOOL": torch.bool,
}
CPU = torch.device("cpu")
CHUNK = 32 * 2**20
THREADS = 8


def read(path: Path, wanted: dict[str, list[int] | None], device: torch.device,
         threads: int = THREADS, transform=None, progress=None,
         host: frozenset[str] = frozenset()) -> dict[str, torch.Tensor]:
    """The tensors named in `wanted`. A shape there reads only that many leading rows.
    Names in `host` are read into host memory whatever `device` is (the offload mode).
    `transform(name, tensor)`, when given, turns each tensor into the entries to keep
    (a dict), right after it is read, so only its output stays in memory.
    `progress(done_bytes, total_bytes)` is called after each tensor, from reader threads."""
    index = checkpoint.tensor_index(path)
    local = threading.local()
    opened: list = []
    total = sum(_nbytes(index[n], wanted[n]) for n in wanted)
    done = [0]
    lock = threading.Lock()

    def one(name: str) -> tuple[str, torch.Tensor]:
        dtype, shape, begin, end = index[name]
        dev = CPU if name in host else device
        out = torch.empty(wanted[name] or shape, dtype=DTYPES[dtype], device=dev)
        raw = out.view(-1).view(torch.uint8)
        if begin + raw.numel() > end:
            raise CorruptFileError(f"{path.name} does not hold the tensor {name} it lists.",
                                   checkpoint.REDOWNLOAD_HINT, str(path))
        if not hasattr(local, "file"):
            local.file = open(path, "rb", buffering=0)
            opened.append(local.file)
            if device.type == "cuda":
                local.buffer = torch.empty(CHUNK, dtype=torch.uint8, pin_memory=True)
        f = local.file
        if dev.type != "cuda":
            _read_exact(f, begin, memoryview(raw.numpy()), path)
        else:
            for pos in range(0, raw.numel(), CHUNK):
                n = min(CHUNK, raw.numel() - pos)
                _read_exact(f, begin + pos, memoryview(local.buffer.numpy())[:n], path)
                raw[pos:pos + n].copy_(local.buffer[:n])
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
        return state
    finally:
        for f in opened:
            f.close()


def _nbytes(entry: tuple, shape: list[int] | None) -> int:
    dtype, full, _, _ = entry
    return math.prod(shape or full) * torch.empty(0, dtype=DTYPES[dtype]).element_size()


def _read_exact(f, offset: int, into: memoryview, path: Path) -> None:
    f.seek(offset)
    done = 0
    while done < len(into):
        n = f.readinto(into[done:])
        if not n:
            raise CorruptFileError(f"{path.name} ends early: the download was cut short.",
                                   checkpoint.REDOWNLOAD_HINT, str(path))
        done += n
