"""The frozen app's smoke test, when a bundle has been built: ARCUS_BUNDLE names its
executable (installer/linux/build.sh runs the same check right after building)."""

import os
import subprocess
from pathlib import Path

import pytest

BUNDLE = os.environ.get("ARCUS_BUNDLE")
SMOKE_SH = Path(__file__).resolve().parents[2] / "installer" / "linux" / "smoke.sh"

pytestmark = [pytest.mark.bundle, pytest.mark.slow,
              pytest.mark.skipif(not BUNDLE, reason="set ARCUS_BUNDLE to a built arcus-desktop")]


def test_bundle_passes_its_smoke_test():
    proc = subprocess.run(["bash", str(SMOKE_SH), BUNDLE], capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_bundle_has_no_gpu_driver_libraries():
    folder = Path(BUNDLE).parent
    found = [p.name for p in folder.rglob("*") if p.name.startswith(("libcuda.so", "libnvidia-"))]
    assert found == []
