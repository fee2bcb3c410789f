"""Which NVIDIA GPU this computer has and how much of its memory is free, asked of
`nvidia-smi` (shipped with the driver) so the GUI process never loads torch and CUDA
just to find out. Blocking: run it through `bridge.tasks`."""

from __future__ import annotations

import logging
import shutil
import subprocess
from dataclasses import dataclass

# Which mode fits a GPU (engine.modes, torch-free): the setup and settings pages ask.
from ..engine.modes import GIB, NEEDS, ModePick, pick  # noqa: F401

log = logging.getLogger(__name__)

MIB = 2**20
QUERY = ["--query-gpu=name,memory.total,memory.free", "--format=csv,noheader,nounits"]
TIMEOUT_S = 10.0  # a wedged driver can hang nvidia-smi


@dataclass(frozen=True)
class Gpu:
    name: str
    total: int  # bytes
    free: int  # bytes, when asked


def nvidia_smi() -> str | None:
    """What `nvidia-smi --query-gpu=…` prints, or None when there is no NVIDIA GPU to
    use (no nvidia-smi, no driver, no device: each is logged)."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        log.info("nvidia-smi is not installed: no NVIDIA GPU")
        return None
    try:
        done = subprocess.run([exe, *QUERY], capture_output=True, text=True, timeout=TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as e:
        log.warning("nvidia-smi failed: %s", e)
        return None
    if done.returncode != 0:  # e.g. "couldn't communicate with the NVIDIA driver"
        log.warning("nvidia-smi exited with %d: %s", done.returncode,
                    (done.stdout + done.stderr).strip()[:500])
        return None
    return done.stdout


def parse(text: str | None) -> list[Gpu]:
    """GPUs in nvidia-smi's order (CUDA's default device first); lines that are not
    'name, total MiB, free MiB' (a "[N/A]" value, a message) are skipped."""
    gpus = []
    for line in (text or "").splitlines():
        parts = line.rsplit(",", 2)  # a name could hold a comma; the numbers cannot
        if len(parts) != 3:
            continue
        name, total, free = (p.strip() for p in parts)
        try:
            gpus.append(Gpu(name, int(float(total) * MIB), int(float(free) * MIB)))
        except ValueError:
            continue
    return gpus
