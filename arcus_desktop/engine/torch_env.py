"""Import torch and moshi with the settings we rely on."""

from __future__ import annotations

import os

# Without this moshi compiles an RMSNorm on first use (needs a C++ compiler, seconds).
os.environ.setdefault("NO_TORCH_COMPILE", "1")

import torch  # noqa: E402

from ..core.errors import DeviceError  # noqa: E402


def pick_device(device: str | None = None) -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceError(
            "No CUDA GPU is available to this program.",
            "Use --device cpu (slow), check the NVIDIA driver with `nvidia-smi`, "
            "or connect to a team server.",
        )
    try:
        return torch.device(device)
    except RuntimeError as e:
        raise DeviceError(f"Unknown device {device!r}.", "Use cpu or cuda.") from e


def default_dtype(device: torch.device) -> torch.dtype:
    return torch.bfloat16 if device.type == "cuda" else torch.float32


def describe() -> list[tuple[str, str]]:
    """Facts about torch and the GPU for `arcus-desktop doctor`."""
    import moshi

    rows = [("torch", torch.__version__), ("moshi", getattr(moshi, "__version__", "?"))]
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        rows.append(("gpu", f"{props.name}, {props.total_memory / 2**30:.1f} GiB"))
        rows.append(("low-memory kernels", low_memory_kernels(torch.device("cuda", 0))))
    else:
        rows.append(("gpu", "none (the engine would run on the CPU, far slower than real time)"))
    return rows


def low_memory_kernels(device: torch.device) -> str:
    """Whether the 8-bit and 4-bit modes multiply by packed weights here (fast) or must
    expand them first (4-bit then lags behind real time), and whether fp8 runs at all."""
    from . import quant_kernels as K

    fp8 = ("; fp8 runs here" if K.fp8_hardware(device) else
           "; no fp8 here (it needs compute capability 8.9, e.g. an RTX 40-series or H100)")
    if not K.ENABLED:
        return "switched off (ARCUS_QUANT_KERNELS=0): 8-bit and 4-bit expand their weights" + fp8
    from ..core.modes import INT4, INT8

    slow = [name for mode, name in ((INT8, "8-bit"), (INT4, "4-bit"))
            if not K.available(mode, device, 4096, 4096, 64)]
    if not slow:
        return "8-bit and 4-bit read packed weights" + fp8
    cc = ".".join(map(str, torch.cuda.get_device_capability(device)))
    return (f"{' and '.join(slow)} must expand weights here (compute capability {cc}; the "
            "kernels need 8.0 or newer, e.g. an RTX 30-series, and Triton): slower" + fp8)
