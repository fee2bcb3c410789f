"""Which way to run the model on this machine: full precision, int8 or 4-bit on the
GPU, or a team server. The thresholds are the peaks measured on an H100 at one session
(docs/PERFORMANCE.md) plus half a GiB for the CUDA context."""

from __future__ import annotations

from dataclasses import dataclass

GIB = 2**30
# mode -> (free GPU memory it needs, context frames or None for the model's own)
NEEDS = {
    "bf16": (17.5 * GIB, None),  # peak 16.5 GiB, frame p99 15 ms
    "int8": (10.5 * GIB, None),  # peak 9.8 GiB, frame p99 72 ms
    "int4": (6.5 * GIB, 1500),   # peak 5.9 GiB with a 2-minute context, p99 100 ms: slow
}


@dataclass(frozen=True)
class ModePick:
    mode: str  # bf16, int8, int4, or server
    context: int | None  # frames the model attends back over; None: the model's own
    note: str  # what the user should know about this choice


def pick(free_bytes: int | None) -> ModePick:
    """The best mode for a GPU with `free_bytes` free (None: no usable CUDA GPU)."""
    if free_bytes is None:
        return ModePick("server", None, "No CUDA GPU: connect to a team server (the CPU is "
                                        "far too slow for a live conversation).")
    for mode in ("bf16", "int8", "int4"):
        need, context = NEEDS[mode]
        if free_bytes >= need:
            note = {"bf16": "Full precision on this GPU.",
                    "int8": "8-bit weights: this GPU has too little memory for full precision.",
                    "int4": "4-bit weights with a 2-minute memory of the conversation: this "
                            "GPU is small, and replies may lag behind real time; a team "
                            "server will sound better."}[mode]
            return ModePick(mode, context, note)
    return ModePick("server", None, f"This GPU has {free_bytes / GIB:.1f} GiB free; the model "
                                    "needs at least 6.5 GiB. Connect to a team server.")


def detect() -> ModePick:
    from .torch_env import torch

    if not torch.cuda.is_available():
        return pick(None)
    free, _total = torch.cuda.mem_get_info()
    return pick(free)
