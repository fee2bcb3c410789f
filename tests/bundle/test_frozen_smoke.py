"""The frozen app's smoke test on the Linux bundle (tests/bundle/conftest.py builds it
with installer/linux/build.sh, or ARCUS_BUNDLE names one already built)."""

import subprocess
import time
from pathlib import Path

import pytest

SMOKE_SH = Path(__file__).resolve().parents[2] / "installer" / "linux" / "smoke.sh"

pytestmark = [pytest.mark.bundle, pytest.mark.slow]


def test_bundle_passes_its_smoke_test(bundle, figures):
    start = time.monotonic()
    proc = subprocess.run(["bash", str(SMOKE_SH), str(bundle)], capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    figures["smoke test of the bundle (smoke.sh wall)"] = f"{time.monotonic() - start:.1f} s"


def test_bundle_has_no_gpu_driver_libraries(bundle):
    found = [p.name for p in bundle.parent.rglob("*")
             if p.name.startswith(("libcuda.so", "libnvidia-"))]
    assert found == []
