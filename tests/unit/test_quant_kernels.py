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


FP8_ROUTE = r"""
import json, torch
from arcus_desktop.engine import quant, quant_kernels as K
# This CPU has no cuBLAS fp8 matmul: it is stood in for by the expanded weights, and
# said to be available, so that only the routing between the two kernels is under test.
K.scaled_mm_available = lambda device, k, n: True
routes = []
gemv = K.gemv_linear
K.gemv_linear = lambda x, c, s, *a: routes.append("gemv") or gemv(x, c, s, *a)
K.fp8_matmul = lambda x, c, s: routes.append("fp8 matmul") or x @ (c.float() * s).t().to(x.dtype)
torch.manual_seed(2)
out = []
for n, k, rows in [(64, 128, 1), (64, 128, 8), (4096, 2048, 1), (4096, 2048, 8)]:
    layer = quant.QuantLinear(n, k, "fp8", torch.bfloat16)
    layer.codes, layer.scales = quant.quantize(torch.randn(n, k), "fp8")
    x = torch.randn(rows, k, dtype=torch.bfloat16)
    if n * k * rows <= 2**22:  # the interpreter is slow: big GEMVs are only routed
        y = layer(x)
        ref = torch.nn.functional.linear(x.float(), layer.weight.float())
        err = float((y.float() - ref).norm() / ref.norm())
    else:
        K.gemv_linear = lambda x, c, s, *a: routes.append("gemv") or torch.zeros(x.shape[0], n)
        layer(x)
        err = 0.0
    out.append([n, k, rows, routes[-1], err])
print(json.dumps(out))
"""


def test_fp8_takes_the_gemv_or_the_fp8_matmul_by_matrix_and_rows():
    results = _interpreted(FP8_ROUTE)
    # one row: always the GEMV; 8 rows: the GEMV for a small matrix, the fp8 matmul for
    # a trunk-sized one (8 x 4096 x 2048 > K.FP8_GEMV_MAX_ELEMENTS)
    assert [r[3] for r in results] == ["gemv", "gemv", "gemv", "fp8 matmul"]
    assert all(err < 0.01 for *_, err in results)
