"""The frozen app's smoke test on the Linux bundle of each flavour (tests/bundle/conftest.py
builds it with installer/linux/build.sh, or ARCUS_BUNDLE / ARCUS_CLIENT_BUNDLE names one
already built). The client's talks to a team server started from source."""

import os
import subprocess
import time
from pathlib import Path

import pytest

SMOKE_SH = Path(__file__).resolve().parents[2] / "installer" / "linux" / "smoke.sh"

pytestmark = [pytest.mark.bundle, pytest.mark.slow]


def test_bundle_passes_its_smoke_test(bundle, flavour, smoke_env, figures):
    start = time.monotonic()
    proc = subprocess.run(["bash", str(SMOKE_SH), str(bundle)], capture_output=True,
                          text=True, timeout=900, env={**os.environ, **smoke_env})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    if flavour.client:  # a conversation with the server, not just the codec
        assert f"frames of the team server's audio from {smoke_env['ARCUS_SMOKE_SERVER']}" \
            in proc.stdout, proc.stdout
        assert "Arcus Desktop Client, frozen" in proc.stdout
    figures[f"{flavour.name}: smoke test of the bundle (smoke.sh wall)"] = \
        f"{time.monotonic() - start:.1f} s"


def test_bundle_has_no_gpu_driver_libraries(bundle):
    found = [p.name for p in bundle.parent.rglob("*")
             if p.name.startswith(("libcuda.so", "libnvidia-"))]
    assert found == []


def test_bundle_leaves_out_what_the_app_never_loads(bundle, flavour):
    """Issue 18: neither flavour carries bitsandbytes, nvrtc's duplicate, Qt Quick/QML,
    the virtual keyboard or libpulse; Arcus Desktop Client carries no torch, moshi, triton or CUDA
    and stays within 250 MB."""
    top = bundle.parent / "_internal"
    names = {p.name for p in top.rglob("*") if p.exists()}  # links left dangling count as gone
    unused = {"bitsandbytes", "libQt6Quick.so.6", "libQt6Qml.so.6", "libQt6Pdf.so.6",
              "libqtvirtualkeyboardplugin.so", "libnvrtc.alt.so.12", "libnvperf_host.so",
              # the system's, matching its sound server (audio/pulse_out.py opens it)
              "libpulse.so.0", "libpulsecommon-16.1.so", "libsndfile.so.1"}
    assert sorted(unused & names) == []
    if not flavour.client:
        return
    found = sorted(p.name for p in top.iterdir()
                   if p.name.split(".")[0].split("-")[0] in ("torch", "moshi", "triton",
                                                             "bitsandbytes", "nvidia"))
    assert found == []
    assert not any(name.startswith(("libcudart", "libcublas")) for name in names)
    size = sum(p.stat().st_size for p in bundle.parent.rglob("*")
               if p.is_file() and not p.is_symlink())
    assert size <= 250e6, f"{size / 1e6:.0f} MB"
