"""CPU offload: the main transformer's big matrices stay in host memory and stream to the
GPU one layer at a time, for GPUs too small even for the 4-bit mode.

Each layer's matrices (attention in/out, gating in/out: 86% of the model's weights) sit
in one block of page-locked host memory. Two GPU slots take turns: layer i computes from
slot i % 2 while layer i+1 is copied into the other slot on a side CUDA stream. The
modules' own weight tensors *are* views into their slot, so moshi's layers and the lean
trunk run unchanged; `LayerStream.fetch(i)`, called at the start of every layer (a
forward pre-hook for moshi's passes, an explicit call in trunk.py), orders the copies.

Each pass over the layers starts from scratch (layer 0 is copied at the start of the
pass, not prefetched by the previous one), so every pass issues the same copies in the
same order and a CUDA graph can capture one (docs/ARCHITECTURE.md says why it does).
On a CPU device the same steps run with plain copies, which is what the tests check.
"""

from __future__ import annotations

import math
import mmap
import re

from .torch_env import torch

from ..core.modes import STREAMED  # mode -> precision of the whole model (quant.py)

ALIGN = 256  # bytes: every tensor in a slot starts on a boundary any dtype can view
_STREAMED = re.compile(r"^transformer\.layers\.(\d+)\.(?:self_attn|gating)\.")


def split_mode(mode: str) -> tuple[str, bool]:
    """(precision, offloaded) of a mode name: OFFLOAD is int8 weights, streamed."""
    return (STREAMED[mode], True) if mode in STREAMED else (mode, False)


def layer_of(name: str) -> int | None:
    """The layer whose streamed matrices hold this checkpoint or state entry; None when
    it stays on the compute device (norms, embeddings, depformer, text head)."""
    m = _STREAMED.match(name)
    return int(m.group(1)) if m else None


def stream_of(lm) -> "LayerStream | None":
    return getattr(lm, "_offload_stream", None)


class HostMemory:
    """A [layers, nbytes] uint8 tensor in host memory, page-locked for the GPU when `pin`.

    Registered with cudaHostRegister rather than allocated with pin_memory(): torch's
    pinned allocator rounds up to a power of two (13 GB would take 16). The memory is an
    anonymous mapping, so it starts on a page boundary (older drivers require that) and
    the registered range is the tensor's whole storage: torch asks whether the storage's
    first byte is pinned before it lets a CUDA graph capture a copy from it."""

    def __init__(self, layers: int, nbytes: int, pin: bool) -> None:
        self._map = mmap.mmap(-1, max(layers * nbytes, 1))
        flat = torch.frombuffer(self._map, dtype=torch.uint8)  # holds a reference to the map
        self.tensor = flat[:layers * nbytes].view(layers, nbytes)
        self._pinned = False
        if pin and self.tensor.numel():
            err = int(torch.cuda.cudart().cudaHostRegister(self.tensor.data_ptr(), self.tensor.numel(), 0))
            if err != 0:
                from ..core.errors import DeviceError

                raise DeviceError(
                    f"Could not lock {self.tensor.numel() / 1e9:.1f} GB of main memory for the "
                    f"GPU (CUDA error {err}).",
                    "Close other programs to free memory, or connect to a team server.")
            self._pinned = True

    def __del__(self) -> None:
        if self._pinned:
            self._pinned = False
            try:
                torch.cuda.cudart().cudaHostUnregister(self.tensor.data_ptr())
            except Exception:  # interpreter shutdown: the process frees it anyway
                pass


class LayerStream:
    """Streamed weights of every layer in host memory, two slots on `device`, and the
    copies between them.

    `entries` maps each streamed state entry (`layer_of(name)` is not None) to its dtype
    and shape. Fill the host memory with `store` while loading, give the model the
    views `store` returns, then `attach` the model.
    """

    def __init__(self, entries: dict[str, tuple[torch.dtype, list[int]]], layers: int,
                 device: torch.device) -> None:
        self.device = device
        self.layers = layers
        self.where: dict[str, tuple[int, int, torch.dtype, list[int], int]] = {}
        used = [0] * layers
        for name in sorted(entries):
            layer = layer_of(name)
            if layer is None or layer >= layers:
                raise ValueError(f"{name} is not a streamed layer weight")
            dtype, shape = entries[name]
            nbytes = math.prod(shape) * dtype.itemsize
            self.where[name] = (layer, used[layer], dtype, list(shape), nbytes)
            used[layer] = -(-(used[layer] + nbytes) // ALIGN) * ALIGN
        self.layer_bytes = max(used, default=0)
        self.host = HostMemory(layers, self.layer_bytes, pin=device.type == "cuda")
        self.slots = [torch.empty(self.layer_bytes, dtype=torch.uint8, device=device) for _ in range(2)]
        self._stored: set[str] = set()
        self._cuda = device.type == "cuda"
        if self._cuda:
            self._copier = torch.cuda.Stream(device)
            current = torch.cuda.current_stream(device)
            # Events made (and their CUDA handles created) now, not during a graph capture.
            self._ready = [torch.cuda.Event() for _ in range(layers)]  # layer i is in its slot
            self._queued = [torch.cuda.Event() for _ in range(layers)]  # compute before layer i
            for event in self._ready + self._queued:
                event.record(current)

    @property
    def host_bytes(self) -> int:
        return self.host.tensor.numel()

    @property
    def frame_bytes(self) -> int:
        """Bytes copied to the device per pass over the layers (alignment gaps included)."""
        return self.layers * self.layer_bytes

    # -- loading ------------------------------------------------------------------------
    def view(self, name: str) -> torch.Tensor:
        """The tensor `name` as the model sees it: a view into its layer's slot."""
        layer, offset, dtype, shape, nbytes = self.where[name]
        return self.slots[layer % 2][offset:offset + nbytes].view(dtype).view(shape)

    def store(self, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Copy host tensors into their layers' blocks; returns their slot views. Safe
        from several reader threads (the blocks do not overlap)."""
        out = {}
        for name, tensor in tensors.items():
            layer, offset, dtype, shape, nbytes = self.where[name]
            if tensor.dtype != dtype or list(tensor.shape) != shape or tensor.device.type != "cpu":
                raise ValueError(f"{name}: expected {dtype} {shape} in host memory, got "
                                 f"{tensor.dtype} {list(tensor.shape)} on {tensor.device}")
            raw = tensor.contiguous().view(-1).view(torch.uint8)
            self.host.tensor[layer, offset:offset + nbytes].copy_(raw)
            self._stored.add(name)
            out[name] = self.view(name)
        return out

    def attach(self, lm) -> None:
        """Hook the model's layers (moshi's own passes fetch through the hooks) and check
        that every streamed weight of the model is a slot view."""
        missing = set(self.where) - self._stored
        if missing:
            raise ValueError(f"{len(missing)} streamed tensors were never stored, e.g. {min(missing)}")
        layers = lm.transformer.layers
        if len(layers) != self.layers:
            raise ValueError(f"the model has {len(layers)} layers, the stream {self.layers}")
        for i, layer in enumerate(layers):
            for name, tensor in [*layer.named_parameters(), *layer.named_buffers()]:
                if layer_of(f"transformer.layers.{i}.{name}") is None:
                    continue
                if tensor.untyped_storage().data_ptr() != self.slots[i % 2].untyped_storage().data_ptr():
                    raise RuntimeError(f"transformer.layers.{i}.{name} is not in its slot")
            layer.register_forward_pre_hook(lambda module, args, i=i: self.fetch(i))
        lm._offload_stream = self

    # -- running ------------------------------------------------------------------------
    def fetch(self, i: int) -> None:
        """Call before queuing layer i's work, for i = 0, 1, ... in every pass: queues the
        wait for layer i's weights and starts copying layer i+1 into the other slot."""
        if i == 0:
            self._after_compute(0)  # slot 0's earlier readers are done
            self._copy(0)
        self._before_compute(i)
        if i + 1 < self.layers:
            if i > 0:
                self._after_compute(i)  # layer i-1, the other slot's reader, is queued
            self._copy(i + 1)

    def _after_compute(self, i: int) -> None:
        """The copy stream waits for everything queued on the compute stream so far."""
        if self._cuda:
            self._queued[i].record(torch.cuda.current_stream(self.device))
            self._copier.wait_event(self._queued[i])

    def _copy(self, layer: int) -> None:
        slot = self.slots[layer % 2]
        if not self._cuda:
            slot.copy_(self.host.tensor[layer])
            return
        with torch.cuda.stream(self._copier):
            slot.copy_(self.host.tensor[layer], non_blocking=True)
            self._ready[layer].record(self._copier)

    def _before_compute(self, i: int) -> None:
        """The compute stream waits until layer i's weights are in their slot."""
        if self._cuda:
            torch.cuda.current_stream(self.device).wait_event(self._ready[i])
