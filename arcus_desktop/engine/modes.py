"""Which way to run the model on this machine: full precision, int8 or 4-bit on the
GPU, CPU offload, or a team server. The GPU thresholds are the peaks measured at one
session (docs/PERFORMANCE.md) plus half a GiB for the CUDA context; the offload threshold
is computed from the shapes and was confirmed by a run capped to 3.25 GiB."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..core.modes import BF16, FP8, GPU, INT4, INT8, OFFLOAD, SERVER

GIB = 2**30
# CPU offload (OFFLOAD) on the GPU, in bytes, from PersonaPlex-7B's shapes (checked
# against the model built on the meta device in tests/unit/test_offload.py):
OFFLOAD_RESIDENT = 1_475_582_464  # embeddings and norms (bf16), depformer and text head (int8)
OFFLOAD_SLOTS = 2 * 205_606_912   # two slots of one layer's int8 matrices and scales
MIMI_BYTES = 384_605_572          # the codec: float32 weights and codebooks
WORKING = 0.3 * GIB               # activations, weight expansion, graph pool (int4's, measured)
CUDA_CONTEXT = 0.5 * GIB
OFFLOAD_CONTEXT = 1500            # frames: a 2-minute memory, as int4


def kv_bytes(context: int, layers: int = 32, dim: int = 4096) -> int:
    """The main transformer's bf16 key/value ring for one session."""
    return layers * 2 * context * dim * 2


def offload_need(context: int = OFFLOAD_CONTEXT) -> float:
    """Free GPU memory the offload mode needs: about 3.65 GiB with a 2-minute context."""
    return (OFFLOAD_RESIDENT + OFFLOAD_SLOTS + MIMI_BYTES + kv_bytes(context) + WORKING
            + CUDA_CONTEXT)


# mode -> (free GPU memory it needs, context frames or None for the model's own)
NEEDS = {
    # Peaks and frame p99 on the H200 (H100 alike for memory):
    BF16: (17.5 * GIB, None),  # peak 16.5 GiB, frame p99 12.7 ms
    INT8: (10.5 * GIB, None),  # peak 9.8 GiB, p99 11.5 ms (Triton GEMV; 72 ms expanding)
    FP8: (10.5 * GIB, None),  # the same bytes as int8 (float32 scales: 1 MB more)
    INT4: (6.5 * GIB, 1500),   # peak 6.0 GiB with a 2-minute context, p99 10.6 ms (tinygemm)
    # 6.1 GiB of int8 layers stay in main memory and cross PCIe every frame: 126 ms a
    # frame measured on PCIe 5 (55 GB/s), 1.6x slower than real time.
    OFFLOAD: (math.ceil(offload_need() / GIB * 4) / 4 * GIB, OFFLOAD_CONTEXT),  # 3.75 GiB
}
NOTES = {
    BF16: "Full precision on this GPU.",
    INT8: "8-bit weights: this GPU has too little memory for full precision.",
    INT4: "4-bit weights with a 2-minute memory of the conversation: this GPU is small; "
            "on older or slower GPUs replies may lag behind real time, and a team server "
            "will sound better.",
    OFFLOAD: "CPU offload with a 2-minute memory of the conversation: this GPU is too "
               "small to hold the model, so its layers are moved from main memory (about "
               "7 GB of it) every frame. Replies come about 1.6 times slower than real "
               "time even on the fastest PCIe; a team server will sound much better.",
}


@dataclass(frozen=True)
class ModePick:
    mode: str  # one of core.modes.GPU, or SERVER
    context: int | None  # frames the model attends back over; None: the model's own
    note: str  # what the user should know about this choice


def pick(free_bytes: int | None) -> ModePick:
    """The best mode for a GPU with `free_bytes` free (None: no usable CUDA GPU)."""
    if free_bytes is None:
        return ModePick(SERVER, None, "No CUDA GPU: connect to a team server (the CPU is "
                                        "far too slow for a live conversation).")
    for mode in GPU:
        need, context = NEEDS[mode]
        if free_bytes >= need:
            return ModePick(mode, context, NOTES[mode])
    return ModePick(SERVER, None, f"This GPU has {free_bytes / GIB:.1f} GiB free; the model "
                                    f"needs at least {NEEDS[OFFLOAD][0] / GIB:.2f} GiB, even "
                                    "with its layers in main memory. Connect to a team server.")


def detect() -> ModePick:
    from .torch_env import torch

    if not torch.cuda.is_available():
        return pick(None)
    free, _total = torch.cuda.mem_get_info()
    return pick(free)
