"""The Linux bundles the tests in this folder check, one of each flavour: Arcus Desktop
Client (`build.sh --client`: team server only, no torch; small and quick, built every
time) and the full app. ARCUS_CLIENT_BUNDLE and ARCUS_BUNDLE name a built arcus-desktop
executable of each, or else the session builds it with the project's one documented
command, installer/linux/build.sh, into a pytest temporary folder (deleted when its
flavour's tests are done: the full one is 6.4 GB). `-k "not full"` runs the client's only;
deselect all with `-m "not bundle"`.

The figures (build, .deb, install and smoke-test times, disk used by these tests at their
peak) are printed at the end of the run."""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.bundle.support import free_gb, run, used_gb

ROOT = Path(__file__).resolve().parents[2]
BUILD_SH = ROOT / "installer" / "linux" / "build.sh"
# Measured (docs/PERFORMANCE.md, "Packaging"): the bundle and PyInstaller's work folder
# 7.2 GB after the build; at the peak, the bundle, the uncompressed .deb and its install
# into a root, 21 GB. Two more for what else the machine writes meanwhile. The client:
# its bundle and work folder, .deb and install are well under 2 GB.
NEED_GB = {"full": 23, "client": 3}


@dataclass(frozen=True)
class Flavour:
    name: str  # full or client (installer/linux/flavour.sh)
    dist: str  # the bundle's folder in dist/
    package: str  # the .deb's package name
    flag: tuple[str, ...]  # for build.sh and deb.sh
    env: str  # names an already built bundle

    @property
    def client(self) -> bool:
        return self.name == "client"


FLAVOURS = {"client": Flavour("client", "arcus-desktop-client", "arcus-desktop-client",
                              ("--client",), "ARCUS_CLIENT_BUNDLE"),
            "full": Flavour("full", "arcus-desktop", "arcus-desktop", (), "ARCUS_BUNDLE")}

FIGURES: dict[str, str] = {}


def record(name: str, value: str) -> None:
    FIGURES[name] = value


@pytest.fixture(scope="session", params=list(FLAVOURS))
def flavour(request) -> Flavour:
    """Each bundle test runs for both flavours, the client's first."""
    return FLAVOURS[request.param]


@pytest.fixture(scope="session")
def figures() -> dict[str, str]:
    """Where a test puts a figure for the end-of-run summary."""
    return FIGURES


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("Linux bundle figures (per flavour)")
        for name, value in FIGURES.items():
            terminalreporter.write_line(f"{name}: {value}")


@pytest.fixture(scope="session")
def bundle(flavour, tmp_path_factory) -> Path:
    """The bundle's arcus-desktop executable, of this flavour."""
    if given := os.environ.get(flavour.env):
        yield Path(given).resolve()
        return
    out = tmp_path_factory.mktemp(f"arcus-build-{flavour.name}")
    free, need = free_gb(out), NEED_GB[flavour.name]
    if free < need:
        pytest.skip(f"not enough disk: building the {flavour.name} Linux bundle and installing "
                    f"its .deb needs about {need} GB free in {out}; {free:.1f} GB is free "
                    f"(the bundle was not built or tested)")
    start = time.monotonic()
    try:
        proc = run(["bash", str(BUILD_SH), *flavour.flag], timeout=3600,
                   env={**os.environ, "PYTHON": sys.executable, "ARCUS_BUILD_DIR": str(out)})
        wall = time.monotonic() - start
        log = proc.stdout + proc.stderr
        if proc.returncode != 0:
            pytest.fail(f"installer/linux/build.sh {' '.join(flavour.flag)} failed (exit "
                        f"{proc.returncode}) after {wall:.0f} s:\n{log[-8000:]}", pytrace=False)
        peak = used_gb(out)  # the bundle and PyInstaller's work folder
        shutil.rmtree(out / f"work-{flavour.name}")
        for label in ("build time", "smoke test time", "bundle size"):
            if found := re.search(rf"^{label}: (.+)$", log, re.M):
                record(f"{flavour.name}: build.sh {label}", found.group(1))
        record(f"{flavour.name}: build.sh wall (build, checks, smoke test)", f"{wall:.0f} s")
        record(f"{flavour.name}: disk: bundle + PyInstaller work folder after the build",
               f"{peak:.1f} GB")
        yield out / "dist" / flavour.dist / "arcus-desktop"
    finally:
        shutil.rmtree(out, ignore_errors=True)


@pytest.fixture(scope="session")
def smoke_env(flavour, tiny_model) -> dict[str, str]:
    """What smoke.sh needs besides a bare environment: for the client, a team server to
    hold its smoke test's conversation with (the real one, from source, the tiny model
    on the CPU, on loopback, in this process)."""
    if not flavour.client:
        yield {}
        return
    from arcus_desktop.server.config import ServerConfig
    from tests.server_thread import serving

    with serving(tiny_model, ServerConfig(host="127.0.0.1", port=0, max_sessions=1)) as url:
        yield {"ARCUS_SMOKE_SERVER": url}
