"""A lean streaming pass of Mimi's convolutional encoder and decoder (SEANet).

Every 80 ms frame runs both: 24 convolutions and 4 transposed ones on 1920 samples. moshi
streams each through a concatenation with its state, cuDNN (with layout transposes
around it), a masked copy of the new state, and an activation and a residual add as
kernels of their own: about 120 small kernels and 33 transposes a frame. Here each
convolution is one Triton kernel that builds its input columns (the state, then the
ELU of the new input plus a pending residual) and writes the new state, and one matmul
with the bias in cuBLAS's epilogue; a transposed convolution is a matmul and one kernel
that overlap-adds its columns with the bias and the state. Activations stay time-major
[B * T, C] between layers; the state tensors are moshi's own, updated as moshi updates
them, so this pass and moshi's interleave freely (tests/unit/test_fused_kernels.py).

`install(mimi)` puts the pass on a loaded codec's encoder and decoder; it runs while
streaming, in float32, where fused.available says the kernels run, else moshi's.
A convolution of a few output rows (the deepest layers: a step or two, MBs of weights)
runs as fused.linear's GEMV instead of cuBLAS's. ARCUS_LEAN_SEANET=0 turns the pass
off. With 64 x 64 tiles it was 0.5 ms a frame slower than moshi's pass on the H100 (its
unfold kernel spilled); with 16 x 16 tiles, the best of bench/seanet_gpu.py's sweep, it
is slightly faster (docs/PERFORMANCE.md).
"""

from __future__ import annotations

import os
import types
from dataclasses import dataclass

from .torch_env import torch

import torch.nn.functional as F

from . import fused

ENABLED = os.environ.get("ARCUS_LEAN_SEANET", "1") != "0"


@dataclass
class _Act:
    """An activation [B, C, T] as a tensor and its strides, with a residual still to add
    (`skip`, same shape) where a resnet block ended."""
    data: torch.Tensor
    B: int
    C: int
    T: int
    strides: tuple[int, int, int]
    skip: "_Act | None" = None

    @staticmethod
    def time_major(y: torch.Tensor, B: int, T: int) -> "_Act":
        C = y.shape[-1]
        return _Act(y, B, C, T, (T * C, 1, C))

    def as_bct(self) -> torch.Tensor:
        x = self.data.as_strided((self.B, self.C, self.T), self.strides)
        return x if self.skip is None else x + self.skip.as_bct()


def install(mimi) -> None:
    for net in (mimi.encoder, mimi.decoder):
        if "_moshi_forward" in net.__dict__:
            continue
        plan = _plan(net)
        if plan is not None:
            net._arcus_plan = plan
            net._moshi_forward = net.forward
            net.forward = types.MethodType(_forward, net)


def _plan(net) -> list | None:
    """SEANet's layers as steps ("conv", module, elu), ("convtr", module, elu) and
    ("block", conv, conv); None where a layer is not of the shape implemented."""
    from moshi.modules.seanet import SEANetResnetBlock

    steps, elu = [], False
    for m in net.model:
        if _is_elu(m) and not elu:
            elu = True
        elif _plain_conv(m) or _plain_convtr(m):
            steps.append(("conv" if _plain_conv(m) else "convtr", m, elu))
            elu = False
        elif isinstance(m, SEANetResnetBlock) and not elu and isinstance(m.shortcut, torch.nn.Identity) \
                and len(m.block) == 4 and _is_elu(m.block[0]) and _is_elu(m.block[2]) \
                and _plain_conv(m.block[1]) and _plain_conv(m.block[3]):
            steps.append(("block", m.block[1], m.block[3]))
        else:
            return None
    return None if elu or not steps else steps


def _is_elu(m) -> bool:
    return type(m) is torch.nn.ELU and m.alpha == 1.0


def _plain_conv(m) -> bool:
    from moshi.modules.conv import StreamingConv1d

    if type(m) is not StreamingConv1d or m.pad_mode != "constant":
        return False
    conv = m.conv.conv
    return type(conv) is torch.nn.Conv1d and conv.dilation == (1,) and conv.groups == 1 \
        and conv.padding == (0,) and not torch.nn.utils.parametrize.is_parametrized(conv)


def _plain_convtr(m) -> bool:
    from moshi.modules.conv import StreamingConvTranspose1d

    if type(m) is not StreamingConvTranspose1d:
        return False
    ct = m.convtr.convtr
    return type(ct) is torch.nn.ConvTranspose1d and ct.dilation == (1,) and ct.groups == 1 \
        and ct.padding == (0,) and ct.output_padding == (0,) \
        and not torch.nn.utils.parametrize.is_parametrized(ct)


def _runs(net, x: torch.Tensor) -> bool:
    first = net._arcus_plan[0][1]
    weight = (first.conv.conv if hasattr(first, "conv") else first.convtr.convtr).weight
    return ENABLED and first._streaming_state is not None and x.dim() == 3 \
        and x.dtype == torch.float32 and weight.dtype == torch.float32 \
        and x.device == weight.device and fused.available(x.device) \
        and fused.codec_kernels() is not None


# Largest (time, channel) tile of the unfold and overlap-add kernels, and their warps:
# the fastest of bench/seanet_gpu.py's seven on the H100 (conv_unfold 111 µs a frame
# against 596 µs with (64, 64, 4)).
TILE = (16, 16, 2)
GEMV_ROWS = 4  # a conv with at most this many output rows runs as fused.linear's GEMV
CHUNK_STEPS = 8  # a long input (a voice recording) in pieces of 8 output steps (0.32 s)


def _forward(net, x: torch.Tensor) -> torch.Tensor:
    if not _runs(net, x):
        return net._moshi_forward(x)
    from moshi.modules.seanet import SEANetEncoder

    # The columns are K times the input: a 30 s recording in one piece would need ~0.5 GB
    # for a moment. Streaming state makes pieces give the same result.
    piece = CHUNK_STEPS * (int(net.hop_length) if isinstance(net, SEANetEncoder) else 1)
    if x.shape[-1] > piece:
        return torch.cat([_lean(net, x[..., i:i + piece]) for i in range(0, x.shape[-1], piece)], -1)
    return _lean(net, x)


def _lean(net, x: torch.Tensor) -> torch.Tensor:
    h = _Act(x, x.shape[0], x.shape[1], x.shape[2], tuple(x.stride()))
    for step in net._arcus_plan:
        if step[0] == "conv":
            h = _conv(step[1], h, step[2])
        elif step[0] == "convtr":
            h = _convtr(step[1], h, step[2])
        else:
            if h.skip is not None:  # two blocks in a row: not in Mimi, kept correct
                h = _Act.time_major(h.as_bct().transpose(1, 2).reshape(h.B * h.T, h.C), h.B, h.T)
            inner = _conv(step[1], h, True)
            out = _conv(step[2], inner, True)
            out.skip = h
            h = out
    return h.as_bct()


def _unfold(h: _Act, state_prev: torch.Tensor, run: torch.Tensor, K: int, S: int, elu: bool) -> torch.Tensor:
    """The conv's input columns [B * T_out, C * K] (kernel conv_unfold), its state updated."""
    k = fused.codec_kernels()
    TP = state_prev.shape[-1]
    T_out = h.T // S
    cols = torch.empty(h.B * T_out, h.C * K, dtype=torch.float32, device=h.data.device)
    # BT * S >= TP: only the first time block reads the old state (see the kernel).
    bt = max(min(TILE[0], max(16, k.triton.next_power_of_2(T_out))), k.triton.next_power_of_2(TP))
    bc = min(TILE[1], k.triton.next_power_of_2(h.C))
    if not h.data.is_cuda:  # Triton's CPU interpreter runs one program at a time: few, wide ones
        bt, bc = max(bt, k.triton.next_power_of_2(T_out)), k.triton.next_power_of_2(h.C)
    skip = h.skip or h
    # Never read without a state (Triton's interpreter fails on a tensor given twice).
    prev = state_prev if TP else run
    k.conv_unfold[(h.B, k.triton.cdiv(T_out, bt), k.triton.cdiv(h.C, bc))](
        h.data, skip.data, prev, run, cols, h.C, h.T, T_out, TP, *h.strides, *skip.strides,
        K=K, S=S, ELU=elu, SKIP=h.skip is not None, HAS_PREV=TP > 0, BT=bt, BC=bc,
        BP=max(2, k.triton.next_power_of_2(TP)), num_warps=TILE[2])
    return cols


def _conv(m, h: _Act, elu: bool) -> _Act:
    conv = m.conv.conv
    K, S = conv.kernel_size[0], conv.stride[0]
    assert h.T % S == 0, "steps must be a multiple of the stride"
    state = m._streaming_state
    if K == 1 and S == 1 and not elu and h.skip is None and h.strides == (h.T * h.C, 1, h.C):
        cols = h.data.view(h.B * h.T, h.C)  # already the matmul's input
    else:
        cols = _unfold(h, state.previous, state.exec_mask, K, S, elu)
    weight = conv.weight.reshape(conv.out_channels, -1)
    if cols.shape[0] <= GEMV_ROWS and weight.is_contiguous():
        # A step or two of a deep layer (MBs of weights): cuBLAS's GEMV reads them at a
        # fraction of the bandwidth fused.linear's does.
        y = fused.linear(cols, weight, bias=conv.bias)[0]
    else:
        y = F.linear(cols, weight, conv.bias)
    return _Act.time_major(y, h.B, h.T // S)


def _convtr(m, h: _Act, elu: bool) -> _Act:
    k = fused.codec_kernels()
    ct = m.convtr.convtr
    K, S = ct.kernel_size[0], ct.stride[0]
    state = m._streaming_state
    partial = state.partial  # [B, CO, K - S]
    PT = partial.shape[-1]
    if elu or h.skip is not None or h.strides != (h.T * h.C, 1, h.C):
        x = _unfold(h, partial[..., :0], state.exec_mask, 1, 1, elu)  # no state of its own
    else:
        x = h.data.view(h.B * h.T, h.C)
    CO = ct.out_channels
    col = x @ ct.weight.reshape(h.C, CO * K)  # [B * T, CO * K]
    out = torch.empty(h.B * h.T * S, CO, dtype=torch.float32, device=x.device)
    bu = max(16, k.triton.next_power_of_2(PT))  # only the first block reads the old partial
    bc = min(TILE[1], k.triton.next_power_of_2(CO))
    if not x.is_cuda:
        bu, bc = max(bu, k.triton.next_power_of_2(h.T * S)), k.triton.next_power_of_2(CO)
    k.convtr_fold[(h.B, k.triton.cdiv(h.T * S, bu), k.triton.cdiv(CO, bc))](
        col, ct.bias if ct.bias is not None else col, partial, state.exec_mask, out, CO, h.T, PT,
        K=K, S=S, J=-(-K // S), HAS_BIAS=ct.bias is not None, BU=bu, BC=bc,
        BP=max(2, k.triton.next_power_of_2(PT)), num_warps=TILE[2])
    return _Act.time_major(out, h.B, h.T * S)
