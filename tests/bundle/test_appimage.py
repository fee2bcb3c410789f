"""The AppImage of Arcus Desktop Client (installer/linux/appimage.sh: mksquashfs and the
project's own runtime, installer/linux/appimage/runtime.c): the AppImage type-2 magic,
its smoke test in a bare environment with a new HOME (first start unpacks it into the
cache, the next reuses that). The full app's AppImage (6 GB, and as much again unpacked)
is made by the same script but not in the test suite."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.bundle.support import run

ROOT = Path(__file__).resolve().parents[2]
APPIMAGE_SH = ROOT / "installer" / "linux" / "appimage.sh"
SMOKE_SH = ROOT / "installer" / "linux" / "smoke.sh"

pytestmark = [pytest.mark.bundle, pytest.mark.slow]


def test_client_appimage_runs_its_smoke_test(bundle, flavour, smoke_env, figures, tmp_path):
    if not flavour.client:
        pytest.skip("the full app's AppImage is not made in the test suite (12 GB of disk)")
    if not (shutil.which("appimagetool") or shutil.which("mksquashfs")):
        pytest.skip("neither appimagetool nor mksquashfs is installed (scripts/_setup.sh)")
    build = tmp_path / "build"
    (build / "dist").mkdir(parents=True)
    (build / "dist" / flavour.dist).symlink_to(bundle.parent)
    start = time.monotonic()
    proc = run(["bash", str(APPIMAGE_SH), *flavour.flag], timeout=1800,
               env={**os.environ, "ARCUS_BUILD_DIR": str(build)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    figures[f"{flavour.name}: appimage.sh"] = f"{time.monotonic() - start:.0f} s"
    image = next(build.glob("ArcusDesktopClient-*-x86_64.AppImage"))
    figures[f"{flavour.name}: AppImage size"] = f"{image.stat().st_size / 1e6:.0f} MB"
    with open(image, "rb") as f:
        assert f.read(11)[8:] == b"AI\x02"  # AppImage type 2
    home = tmp_path / "home"
    home.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8", **smoke_env}
    for attempt in ("first", "again"):
        start = time.monotonic()
        proc = subprocess.run(["bash", str(SMOKE_SH), str(image)], capture_output=True,
                              text=True, timeout=900, env=env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert ("unpacking into" in proc.stdout) == (attempt == "first"), proc.stdout
        figures[f"{flavour.name}: AppImage smoke test, {attempt} start"] = \
            f"{time.monotonic() - start:.1f} s"
    unpacked = list((home / ".cache" / "arcus-appimage").iterdir())
    assert len(unpacked) == 1 and (unpacked[0] / "AppRun").is_file()
