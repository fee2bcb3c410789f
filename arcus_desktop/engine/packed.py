"""A copy of the weights in an 8-bit mode's own layout (fp8 or int8 codes and scales),
written once after the first load in that mode and read instead of the original from
then on: half the bytes from the disk and no quantizing, so a cold start reads ~8 GB
instead of ~17.

It is a cache (in the cache folder): keyed by the original files (path, size, time), the
mode and the depformer steps; a copy that does not match, or is damaged, is ignored and
written again. Not written when the disk would be left with less than MARGIN free, and
never left half-written (a temporary name, renamed when complete). One copy per model
file: writing one removes the copies of the same file in other modes, and those of files
that are gone.

The file is safetensors' layout (little-endian header length, JSON header, data) with
each tensor starting on a 4096-byte boundary, so direct reads need no shifting.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .torch_env import torch

from ..core import paths
from ..core.errors import CorruptFileError
from ..core.modes import FP8, INT8
from . import checkpoint

log = logging.getLogger(__name__)

FORMAT = "1"
PACKABLE = (FP8, INT8)  # 4-bit's layout is the GPU kernel's (quant.pack): not portable
ALIGN = 4096
MARGIN = 2 * 2**30  # free disk space the copy must leave
CHUNK = 32 * 2**20
STALE_S = 3600  # a temporary file this old was left by a process that stopped
_NAMES = {torch.bfloat16: "BF16", torch.float16: "F16", torch.float32: "F32",
          torch.float64: "F64", torch.int64: "I64", torch.int32: "I32", torch.int16: "I16",
          torch.int8: "I8", torch.uint8: "U8", torch.bool: "BOOL", torch.float8_e4m3fn: "F8_E4M3"}


@dataclass
class Copy:
    """The packed copy for one load: where it is (or will be), what it must match, and
    what became of it."""

    target: Path
    key: str
    used: bool = False  # this load read the copy, not the original
    writer: threading.Thread | None = None  # writing it, after a load from the original


def copy_for(files: list[Path], mode: str, dtype: torch.dtype, dep_steps: int) -> Copy | None:
    """The copy a load of `files[0]` (the LM; the others change its shapes) in `mode`
    would use; None for modes that have none."""
    if mode not in PACKABLE:
        return None
    parts = [FORMAT, mode, str(dtype), str(dep_steps)]
    for f in files:
        st = f.stat()
        parts += [str(f.resolve()), str(st.st_size), str(st.st_mtime_ns)]
    # One copy per original file, mode and dtype: a newer original replaces it in place.
    digest = hashlib.sha256(str(files[0].resolve()).encode()).hexdigest()[:16]
    name = f"{mode}-{str(dtype).removeprefix('torch.')}-dep{dep_steps}-{digest}.safetensors"
    return Copy(paths.cache_dir() / "packed" / name, "|".join(parts))


def find(target: Path, key: str) -> Path | None:
    """`target` if it is a whole copy made from `key`; otherwise None (a damaged or
    outdated copy is removed)."""
    if not target.is_file():
        return None
    try:
        checkpoint.tensor_index(target)  # whole: every tensor inside the file's length
        if checkpoint.metadata(target).get("source") == key:
            return target
    except (CorruptFileError, OSError, ValueError):
        pass
    log.info("packed weights %s are outdated or damaged: the original is read", target)
    target.unlink(missing_ok=True)
    return None


def write(target: Path, state: dict[str, torch.Tensor], key: str) -> bool:
    """Write `state` to `target` (atomically); False, with the reason logged, when it
    cannot be (disk full, no permission): the next start reads the original again."""
    names = sorted(state)
    header: dict = {"__metadata__": {"format": FORMAT, "source": key}}
    offset = 0
    for name in names:
        t = state[name]
        offset = -(-offset // ALIGN) * ALIGN
        size = t.numel() * t.element_size()
        header[name] = {"dtype": _NAMES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-(8 + len(text)) % ALIGN)  # the data starts on a block boundary too
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(target.parent)
    _remove_others(target)
    free = shutil.disk_usage(target.parent).free
    if free < 8 + len(text) + offset + MARGIN:
        log.info("not writing packed weights: %.1f GB free, %.1f GB needed with the margin",
                 free / 1e9, (8 + len(text) + offset + MARGIN) / 1e9)
        return False
    part = target.with_name(f"{target.name}.part-{os.getpid()}")
    try:
        with open(part, "wb") as f:
            f.write(struct.pack("<Q", len(text)) + text)
            staging = None
            for name in names:
                f.write(b"\0" * (-(f.tell() - 8 - len(text)) % ALIGN))
                raw = state[name].detach().contiguous().view(-1).view(torch.uint8)
                if raw.device.type == "cpu":
                    f.write(memoryview(raw.numpy()))
                    continue
                if staging is None:
                    staging = torch.empty(CHUNK, dtype=torch.uint8, pin_memory=True)
                    # Its own stream, so the copies wait for no conversation frame; but
                    # after everything the load queued (quantizing runs asynchronously).
                    stream = torch.cuda.Stream(raw.device)
                    stream.wait_stream(torch.cuda.default_stream(raw.device))
                with torch.cuda.stream(stream):
                    for pos in range(0, raw.numel(), CHUNK):
                        n = min(CHUNK, raw.numel() - pos)
                        staging[:n].copy_(raw[pos:pos + n])
                        f.write(memoryview(staging.numpy())[:n])
            f.flush()
            os.fsync(f.fileno())
        os.replace(part, target)
        return True
    except OSError as e:  # disk full, file too large, no permission...
        log.warning("could not write packed weights to %s: %s", target, e)
        part.unlink(missing_ok=True)
        return False


def describe() -> str:
    """For `doctor`: the copies kept, their size and where (deleting them is safe)."""
    folder = paths.cache_dir() / "packed"
    copies = sorted(folder.glob("*.safetensors")) if folder.is_dir() else []
    if not copies:
        return "none (an 8-bit mode writes one at its first start)"
    size = sum(f.stat().st_size for f in copies)
    modes = ", ".join(f.name.split("-", 1)[0] for f in copies)
    return (f"{modes}: {size / 1e9:.1f} GB in {folder} (safe to delete; written again at "
            "the next start in that mode)")


def write_in_background(target: Path, state: dict[str, torch.Tensor], key: str) -> threading.Thread:
    """`write` on a thread of its own, so the first conversation need not wait for it."""
    thread = threading.Thread(target=write, args=(target, state, key), name="packed-weights",
                              daemon=True)
    thread.start()
    return thread


def _remove_others(target: Path) -> None:
    """Copies of the same model file in other modes, and of model files that are gone."""
    same_file = target.name.rsplit("-", 1)[-1]
    for f in target.parent.glob("*.safetensors"):
        if f == target:
            continue
        try:
            source = str(checkpoint.metadata(f).get("source", "")).split("|")
            gone = len(source) < 5 or not Path(source[4]).exists()
            if gone or f.name.endswith("-" + same_file):
                f.unlink()
        except (CorruptFileError, OSError):
            f.unlink(missing_ok=True)


def _remove_stale(folder: Path) -> None:
    for f in folder.glob("*.part-*"):
        try:
            if time.time() - f.stat().st_mtime > STALE_S:
                f.unlink()
        except OSError:
            pass
