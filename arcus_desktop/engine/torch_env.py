"""Import torch and moshi with the settings we rely on."""

from __future__ import annotations

import os

# Without this moshi compiles an RMSNorm on first use (needs a C++ compiler, seconds).
os.environ.setdefault("NO_TORCH_COMPILE", "1")

import torch  # noqa: E402

from ..core.errors import DeviceError  # noqa: E402


def pick_device(name: str | None = None) -> torch.device:
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceError(
            "No CUDA GPU is available to this program.",
            "Use --device cpu (slow), check the NVIDIA driver with `nvidia-smi`, "
            "or connect to a team server.",
        )
    try:
        return torch.device(name)
    except RuntimeError as e:
        raise DeviceError(f"Unknown device {name!r}.", "Use cpu or cuda.") from e


def default_dtype(device: torch.device) -> torch.dtype:
    return torch.bfloat16 if device.type == "cuda" else torch.float32


def describe() -> list[tuple[str, str]]:
    """Facts about torch and the GPU for `arcus-desktop doctor`."""
    import moshi

    rows = [("torch", torch.__version__), ("moshi", getattr(moshi, "__version__", "?"))]
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        rows.append(("gpu", f"{props.name}, {props.total_memory / 2**30:.1f} GiB"))
    else:
        rows.append(("gpu", "none (the engine would run on the CPU, far slower than real time)"))
    return rows
