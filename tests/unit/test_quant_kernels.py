"""The int8/fp8 kernel that reads packed weights (engine/quant_kernels.py) against the
expanded weights. It is a GPU kernel; here it runs in Triton's interpreter on the CPU,
in a fresh process because the interpreter is chosen when the kernel is defined."""

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("triton")

CHECK = r"""
import json, torch
from arcus_desktop.engine import quant, quant_kernels as K
torch.manual_seed(0)
errors = []
for mode, (n, k, m, bn, bk) in [(mode, case) for mode in ("int8", "fp8") for case in
                                [(48, 64, 1, 16, 32), (50, 96, 3, 16, 32), (16, 256, 2, 8, 64)]]:
    w = torch.randn(n, k, dtype=torch.bfloat16)
    layer = quant.QuantLinear(n, k, mode, torch.bfloat16)
    layer.codes, layer.scales = quant.quantize(w, mode)
    x = torch.randn(1, m, k, dtype=torch.bfloat16)
    ref = torch.nn.functional.linear(x.float(), layer.weight.float())
    y = K.gemv_linear(x, layer.codes, layer.scales, bn, bk)
    errors.append([list(y.shape), float((y.float() - ref).norm() / ref.norm())])
print(json.dumps(errors))
"""


def _interpreted(code: str) -> list:
    """What `code` prints last, run with Triton's interpreter in a fresh Python."""
    env = dict(os.environ, TRITON_INTERPRET="1")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_int8_and_fp8_kernel_matches_the_expanded_weights():
    results = _interpreted(CHECK)
    assert [shape for shape, _ in results] == [[1, 1, 48], [1, 3, 50], [1, 2, 16]] * 2
    # bf16 output rounding only: the same sums as F.linear on the expanded weights
    assert all(err < 0.01 for _, err in results)


WIRED = r"""
import json, torch
from arcus_desktop.engine import quant, quant_kernels as K
calls = []
kernel = K.gemv_linear
K.gemv_linear = lambda *a, **kw: calls.append(a[0].shape) or kernel(*a, **kw)
torch.manual_seed(1)
layer = quant.QuantLinear(40, 64, "int8", torch.bfloat16)
layer.codes, layer.scales = quant.quantize(torch.randn(40, 64), "int8")
out = []
for rows in (1, K.INT8_MAX_ROWS, K.INT8_MAX_ROWS + 1):
    x = torch.randn(1, rows, 64, dtype=torch.bfloat16)
    ref = torch.nn.functional.linear(x.float(), layer.weight.float())
    before = len(calls)
    y = layer(x)
    out.append([rows, len(calls) - before, float((y.float() - ref).norm() / ref.norm())])
print(json.dumps(out))
"""


def test_int8_layers_use_the_kernel_up_to_its_row_limit():
    results = _interpreted(WIRED)
    # the kernel for one row and up to its limit, the expanded weights past it
    assert [calls for _, calls, _ in results] == [1, 1, 0]
    assert all(err < 0.01 for _, _, err in results)
