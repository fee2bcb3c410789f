"""Weight-only quantization for GPUs too small for the bf16 model: int8 with one scale
per output row, or 4-bit with one scale per group of 64 inputs; and fp8 (float8 e4m3,
one scale per output row), half of bf16's bytes on the GPUs that multiply float8 in
hardware. Weights are quantized as they are read, so the bf16 model never has to fit on
the GPU. On a GPU the matmuls read the packed weights directly (quant_kernels.py);
elsewhere they are expanded back to bf16 one slice of rows at a time inside each matmul."""

from __future__ import annotations

import functools
import re

from . import quant_kernels as K
from .torch_env import torch  # first: it sets what moshi reads at import

from moshi.modules.gating import ActivationGating, gating_forward_generic

from ..core.modes import FP8, INT4, INT8, QUANTIZED

F = torch.nn.functional
GROUP = 64

# Checkpoint tensors that become QuantLinear modules: the main transformer's matrices,
# the text head, and the depformer's per-step matrices (96% of the weights).
_STACKED = re.compile(r"^(depformer\.layers\.\d+\.self_attn)\.(in_proj_weight|out_proj\.weight)$")
_TARGETS = [
    (re.compile(r"^(transformer\.layers\.\d+\.self_attn)\.in_proj_weight$"), r"\1.in_projs.0"),
    (re.compile(r"^(transformer\.layers\.\d+\.self_attn)\.out_proj\.weight$"), r"\1.out_projs.0"),
    (re.compile(r"^(transformer\.layers\.\d+\.gating\.linear_(?:in|out))\.weight$"), r"\1"),
    (re.compile(r"^(depformer\.layers\.\d+\.gating\.\d+\.linear_(?:in|out))\.weight$"), r"\1"),
    (re.compile(r"^(text_linear)\.weight$"), r"\1"),
]


def modules_for(name: str, dep_steps: int) -> list[str]:
    """The modules a checkpoint tensor turns into when quantized (none: kept as is). The
    depformer stores each attention matrix stacked for all its steps: one per step."""
    if m := _STACKED.match(name):
        kind = "in_projs" if m.group(2) == "in_proj_weight" else "out_projs"
        return [f"{m.group(1)}.{kind}.{i}" for i in range(dep_steps)]
    for rx, repl in _TARGETS:
        if rx.match(name):
            return [rx.sub(repl, name)]
    return []


SCALE_DTYPE = torch.float16
FP8_DTYPE = torch.float8_e4m3fn
FP8_SCALE_DTYPE = torch.float32  # what cuBLAS's fp8 matmul takes
ROWS = 1024  # rows quantized at a time, so the float32 temporaries stay small
FORWARD_ROWS = 2048  # rows expanded at a time in a matmul


def group_size(inp: int) -> int:
    """Inputs sharing one 4-bit scale: 64, or the whole row for odd sizes (test models)."""
    return GROUP if inp % GROUP == 0 else inp


def quantize(w: torch.Tensor, mode: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(codes, scales) of a [out, in] weight; see QuantLinear for the layouts."""
    out, inp = w.shape
    group = group_size(inp)
    codes, scales = _empty(out, inp, mode, w.device)
    for r in range(0, out, ROWS):
        part = w[r:r + ROWS].float()
        if mode == INT8:
            scale = (part.abs().amax(dim=1, keepdim=True) / 127.0).to(SCALE_DTYPE).float()
            scale.clamp_(min=1e-8)
            codes[r:r + ROWS] = torch.round(part / scale).clamp_(-127, 127).to(torch.int8)
        elif mode == FP8:
            scale = (part.abs().amax(dim=1, keepdim=True) / K.FP8_MAX).clamp_(min=1e-12)
            codes[r:r + ROWS] = (part / scale).clamp_(-K.FP8_MAX, K.FP8_MAX).to(FP8_DTYPE)
        else:
            g = part.view(part.shape[0], inp // group, group)
            scale = (g.abs().amax(dim=2, keepdim=True) / 7.0).to(SCALE_DTYPE).float()
            scale.clamp_(min=1e-8)
            q = (torch.round(g / scale).clamp_(-8, 7) + 8).to(torch.uint8).view(part.shape[0], inp)
            codes[r:r + ROWS] = q[:, 0::2] | (q[:, 1::2] << 4)
        scales[r:r + ROWS] = scale.view(part.shape[0], -1).to(scales.dtype)
    return codes, scales


def _empty(out: int, inp: int, mode: str, device) -> tuple[torch.Tensor, torch.Tensor]:
    if mode == INT8:
        return (torch.empty(out, inp, dtype=torch.int8, device=device),
                torch.empty(out, 1, dtype=SCALE_DTYPE, device=device))
    if mode == FP8:
        return (torch.empty(out, inp, dtype=FP8_DTYPE, device=device),
                torch.empty(out, 1, dtype=FP8_SCALE_DTYPE, device=device))
    return (torch.empty(out, inp // 2, dtype=torch.uint8, device=device),
            torch.empty(out, inp // group_size(inp), dtype=SCALE_DTYPE, device=device))


class QuantLinear(torch.nn.Linear):
    """A bias-free Linear on quantized weights. (A Linear subclass because moshi checks
    the type of its projections; nn.Linear's own parameters are never created.)

    int8: codes int8 [out, in], scales [out, 1]. fp8: codes float8_e4m3fn [out, in],
    scales float32 [out, 1]. int4: codes uint8 [out, in / 2] (two
    inputs a byte, low nibble first, offset by 8), scales [out, in / group_size(in)].
    """

    def __init__(self, out_features: int, in_features: int, mode: str, dtype: torch.dtype,
                 device=None, packed: bool = False) -> None:
        torch.nn.Module.__init__(self)
        if mode not in QUANTIZED or (mode == INT4 and in_features % 2):
            raise ValueError(f"cannot quantize a {out_features}x{in_features} matrix to {mode}")
        self.mode, self.out_features, self.in_features = mode, out_features, in_features
        self.dtype = dtype
        self.bias = None
        codes, scales = _empty(out_features, in_features, mode, device)
        if packed:
            codes, scales = K.int4_pack(codes, scales, group_size(in_features))
        self.register_buffer("codes", codes)
        self.register_buffer("scales", scales)

    @property
    def weight(self) -> torch.Tensor:
        """The bf16 weight, rebuilt (moshi reads `.weight` for its device and dtype when
        a conversation starts). A packed layer gives a stand-in of the right shape, device
        and dtype that takes no memory, full of NaN so that any use of its values shows:
        rebuilding the matrix there would not fit beside a small GPU's full model.
        `dequantized()` gives the values."""
        if self.packed:
            return torch.full((), float("nan"), dtype=self.dtype,
                              device=self.codes.device).expand(self.out_features, self.in_features)
        return self._rows(0, self.out_features)

    def dequantized(self) -> torch.Tensor:
        return self._unpacked() if self.packed else self._rows(0, self.out_features)

    @property
    def packed(self) -> bool:
        """Whether the int4 codes are in tinygemm's layout (see `pack`)."""
        return self.codes.dtype == torch.int32

    def _unpacked(self) -> torch.Tensor:
        # The kernel applied to slices of the identity gives the weight's columns; there
        # is no other way back from tinygemm's tiles.
        k, cols = self.in_features, []
        for c in range(0, k, FORWARD_ROWS):
            n = min(FORWARD_ROWS, k - c)
            eye = torch.zeros(n, k, dtype=torch.bfloat16, device=self.codes.device)
            eye[torch.arange(n), torch.arange(c, c + n)] = 1
            cols.append(K.int4_linear(eye, self.codes, self.scales, group_size(k), self.out_features))
        return torch.cat(cols).t().contiguous().to(self.dtype)

    def _rows(self, start: int, stop: int) -> torch.Tensor:
        codes, scales = self.codes[start:stop], self.scales[start:stop]
        if self.mode == INT8:
            return (codes.to(SCALE_DTYPE) * scales).to(self.dtype)
        if self.mode == FP8:
            return (codes.float() * scales).to(self.dtype)
        low = (codes & 15).to(torch.int8) - 8
        high = (codes >> 4).to(torch.int8) - 8
        q = torch.stack([low, high], dim=-1).view(stop - start, -1, group_size(self.in_features))
        return (q * scales[..., None]).view(stop - start, self.in_features).to(self.dtype)

    def _gemv(self, rows: int, device: torch.device) -> bool:
        """Whether the GEMV beats the alternative here (bench/quant_kernels_gpu.py)."""
        if self.mode == FP8 and K.scaled_mm_available(device, self.in_features, self.out_features):
            return K.fp8_gemv_wins(rows, self.in_features, self.out_features)
        return rows <= K.INT8_MAX_ROWS

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.packed:
            return K.int4_linear(x, self.codes, self.scales, group_size(self.in_features),
                                 self.out_features)
        rows = x.numel() // self.in_features
        if self.mode in K.GEMV and self._gemv(rows, x.device) and K.available(
                self.mode, x.device, self.in_features, self.out_features, 0):
            return K.gemv_linear(x, self.codes, self.scales)
        if self.mode == FP8 and K.scaled_mm_available(x.device, self.in_features, self.out_features):
            return K.fp8_matmul(x, self.codes, self.scales)
        # A slice of rows at a time: the expanded bf16 copy (and its temporaries) stays
        # small, which is the point of this mode on a small GPU.
        if self.out_features <= FORWARD_ROWS:
            return F.linear(x, self.weight)
        return torch.cat([F.linear(x, self._rows(r, min(r + FORWARD_ROWS, self.out_features)))
                          for r in range(0, self.out_features, FORWARD_ROWS)], dim=-1)


def packs(mode: str, device: torch.device, out_features: int, in_features: int) -> bool:
    """Whether a matrix is kept in tinygemm's layout on `device` (int4 where it runs)."""
    return mode == INT4 and K.available(INT4, torch.device(device), in_features, out_features,
                                          group_size(in_features))


def pack(state: dict[str, torch.Tensor], in_features: int) -> dict[str, torch.Tensor]:
    """`split`'s int4 entries in tinygemm's layout (same bytes: no extra memory kept)."""
    out = {}
    for key in [k for k in state if k.endswith(".codes")]:
        base = key[:-len(".codes")]
        out[key], out[f"{base}.scales"] = K.int4_pack(state[key], state[f"{base}.scales"],
                                                      group_size(in_features))
    return out


def _gate_through_modules(gating: "ActivationGating", x: torch.Tensor) -> torch.Tensor:
    return gating_forward_generic(gating.linear_in, gating.linear_out, gating.activation, x)


def swap_in(model: torch.nn.Module, names: list[str], mode: str, dtype: torch.dtype,
            device: torch.device) -> dict[str, int]:
    """Put QuantLinear modules (on the meta device) in place of the Linears `names`, in
    the layout their weights will have on `device`; returns the in_features of those
    kept in tinygemm's layout (their state entries go through `pack`)."""
    packed = {}
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        old = getattr(parent, child)
        kernel = packs(mode, device, old.out_features, old.in_features)
        setattr(parent, child, QuantLinear(old.out_features, old.in_features, mode, dtype,
                                           device="meta", packed=kernel))
        if isinstance(parent, ActivationGating):
            # moshi's gating multiplies by `linear_in.weight` itself when its projections
            # are Linears (as QuantLinear is): that would rebuild whole matrices, or read
            # a packed layer's stand-in. Its generic path calls the modules instead.
            parent.forward = functools.partial(_gate_through_modules, parent)
        if kernel:
            packed[name] = old.in_features
    return packed


def state_shapes(names: list[str], shape: list[int], mode: str) -> dict[str, tuple[torch.dtype, list[int]]]:
    """Dtype and shape of each entry `split(*quantize(w, mode), names)` gives for a weight
    of `shape`, without computing it (the offload mode lays out host memory first)."""
    codes, scales = _empty(*shape, mode, "meta")
    return {name: (t.dtype, list(t.shape)) for name, t in split(codes, scales, names).items()}


def split(codes: torch.Tensor, scales: torch.Tensor, names: list[str]) -> dict[str, torch.Tensor]:
    """State entries for `names` from one quantized (possibly stacked) matrix."""
    out = {}
    for name, c, s in zip(names, codes.chunk(len(names)), scales.chunk(len(names))):
        out[f"{name}.codes"], out[f"{name}.scales"] = c.contiguous(), s.contiguous()
    return out
