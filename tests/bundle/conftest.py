"""The Linux bundle the tests in this folder check: ARCUS_BUNDLE names a built
arcus-desktop executable, or else the session builds one with the project's one
documented command, installer/linux/build.sh, into a pytest temporary folder (it is
deleted at the end: 6.6 GB). Deselect with `-m "not bundle"`.

The figures (build, .deb, install and smoke-test times, disk used by these tests at their
peak) are printed at the end of the run."""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
from pathlib import Path

import pytest

from tests.bundle.support import free_gb, run, used_gb

ROOT = Path(__file__).resolve().parents[2]
BUILD_SH = ROOT / "installer" / "linux" / "build.sh"
# Measured (docs/PERFORMANCE.md, "Packaging"): the bundle and PyInstaller's work folder
# 7.2 GB after the build; at the peak, the bundle, the uncompressed .deb and its install
# into a root, 21 GB. Two more for what else the machine writes meanwhile.
NEED_GB = 23

FIGURES: dict[str, str] = {}


def record(name: str, value: str) -> None:
    FIGURES[name] = value


@pytest.fixture(scope="session")
def figures() -> dict[str, str]:
    """Where a test puts a figure for the end-of-run summary."""
    return FIGURES


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("Linux bundle figures")
        for name, value in FIGURES.items():
            terminalreporter.write_line(f"{name}: {value}")


@pytest.fixture(scope="session")
def bundle(tmp_path_factory) -> Path:
    """The bundle's arcus-desktop executable."""
    if given := os.environ.get("ARCUS_BUNDLE"):
        yield Path(given).resolve()
        return
    out = tmp_path_factory.mktemp("arcus-build")
    free = free_gb(out)
    if free < NEED_GB:
        pytest.skip(f"not enough disk: building the Linux bundle and installing its .deb "
                    f"needs about {NEED_GB} GB free in {out}; {free:.1f} GB is free "
                    f"(the bundle was not built or tested)")
    start = time.monotonic()
    try:
        proc = run(["bash", str(BUILD_SH)], timeout=3600,
                   env={**os.environ, "PYTHON": sys.executable, "ARCUS_BUILD_DIR": str(out)})
        wall = time.monotonic() - start
        log = proc.stdout + proc.stderr
        if proc.returncode != 0:
            pytest.fail(f"installer/linux/build.sh failed (exit {proc.returncode}) after "
                        f"{wall:.0f} s:\n{log[-8000:]}", pytrace=False)
        peak = used_gb(out)  # the bundle and PyInstaller's work folder
        shutil.rmtree(out / "work")
        for label in ("build time", "smoke test time", "bundle size"):
            if found := re.search(rf"^{label}: (.+)$", log, re.M):
                record(f"build.sh {label}", found.group(1))
        record("build.sh wall (build, checks, smoke test)", f"{wall:.0f} s")
        record("disk: bundle + PyInstaller work folder after the build", f"{peak:.1f} GB")
        yield out / "dist" / "arcus-desktop" / "arcus-desktop"
    finally:
        shutil.rmtree(out, ignore_errors=True)
