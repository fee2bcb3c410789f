"""The .deb of the Linux bundle of each flavour (installer/linux/deb.sh; the full one
uncompressed: xz takes over 13 minutes; the client's with xz, as it is handed out),
installed with dpkg into a throwaway root (tests/debroot.py: this machine's
packages and files are left alone), its installed app's smoke test, then purge.

Disk: the .deb (about the bundle's size, uncompressed) and its install come on top of the
bundle; the .deb and deb.sh's folder are deleted as soon as it is installed, the root at
the end of this module."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests import debroot
from tests.bundle.support import free_gb, run, used_gb

ROOT = Path(__file__).resolve().parents[2]
DEB_SH = ROOT / "installer" / "linux" / "deb.sh"
SMOKE_SH = ROOT / "installer" / "linux" / "smoke.sh"

pytestmark = [pytest.mark.bundle, pytest.mark.slow]


@dataclass
class Installed:
    root: Path
    bundle_dir: Path
    package: str
    state: dict = field(default_factory=dict)

    @property
    def app(self) -> Path:
        return self.root / "opt" / "arcus-desktop" / "arcus-desktop"

    def check_not_purged(self) -> None:
        if self.state.get("purged"):
            pytest.fail("the package was purged by an earlier test of this module")


@pytest.fixture(scope="module")
def installed(bundle, flavour, tmp_path_factory, figures) -> Installed:
    if why := debroot.missing_tools():
        pytest.skip(f"the .deb cannot be built and installed here: {why}")
    bundle_dir = bundle.parent
    work = tmp_path_factory.mktemp("arcus-deb")
    try:
        size = used_gb(bundle_dir)
        # deb.sh hard-links the bundle into its staging folder on the same file system
        # and copies it elsewhere.
        copies = 2 if os.stat(bundle_dir).st_dev == os.stat(work).st_dev else 3
        need, free = copies * size + 1, free_gb(work)
        if free < need:
            pytest.skip(f"not enough disk: the uncompressed .deb of the {size:.1f} GB bundle "
                        f"and its install need about {need:.0f} GB free in {work}; "
                        f"{free:.1f} GB is free (the .deb was not built or installed)")
        build = work / "build"
        (build / "dist").mkdir(parents=True)
        (build / "dist" / flavour.dist).symlink_to(bundle_dir)
        compress = "xz" if flavour.client else "none"
        start = time.monotonic()
        proc = run(["bash", str(DEB_SH), *flavour.flag], timeout=3600,
                   env={**os.environ, "DEB_COMPRESS": compress, "ARCUS_BUILD_DIR": str(build)})
        assert proc.returncode == 0, proc.stdout + proc.stderr
        name = flavour.name
        figures[f"{name}: deb.sh, DEB_COMPRESS={compress}"] = f"{time.monotonic() - start:.0f} s"
        deb = next(build.glob(f"{flavour.package}_*_amd64.deb"))
        figures[f"{name}: .deb size, {compress}"] = f"{deb.stat().st_size / 1e6:.0f} MB"
        if flavour.client:  # issue 18: the package a team hands out, at most 100 MB
            assert deb.stat().st_size <= 100e6, f"{deb.stat().st_size / 1e6:.0f} MB"

        root = work / "root"
        debroot.make_root(root, deb)
        start = time.monotonic()
        proc = debroot.dpkg(root, "--install", str(deb))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        figures[f"{name}: dpkg --install into the root"] = f"{time.monotonic() - start:.0f} s"
        figures[f"{name}: disk at the peak: bundle + .deb + installed root"] = \
            f"{used_gb(bundle_dir, build, root):.1f} GB"
        figures[f"{name}: installed size (/opt/arcus-desktop)"] = \
            f"{used_gb(root / 'opt' / 'arcus-desktop') * 1000:.0f} MB"
        shutil.rmtree(build)  # the .deb is installed: only the root is needed now
        yield Installed(root, bundle_dir, flavour.package)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_installed_files(installed):
    installed.check_not_purged()
    root = installed.root
    assert debroot.status(root, installed.package) == "install ok installed"
    # Every file of the bundle, under /opt, runnable from PATH through /usr/bin.
    assert _tree(root / "opt" / "arcus-desktop") == _tree(installed.bundle_dir)
    assert os.access(installed.app, os.X_OK)
    assert (root / "usr/bin/arcus-desktop").readlink() == Path("/opt/arcus-desktop/arcus-desktop")
    # The desktop entry starts that program, with an icon the icon theme finds.
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str
    entry.read(root / "usr/share/applications" / f"{debroot.APP_ID}.desktop")
    desktop = entry["Desktop Entry"]
    assert (root / "usr/bin" / desktop["Exec"].split()[0]).is_symlink()
    icon = root / "usr/share/icons/hicolor/scalable/apps" / f"{desktop['Icon']}.svg"
    assert icon.read_bytes() == (ROOT / "resources/icons/arcus.svg").read_bytes()
    assert not (root / "etc/xdg/autostart").exists()  # only with deb.sh --autostart


def test_installed_app_passes_its_smoke_test(installed, flavour, smoke_env, figures, tmp_path):
    installed.check_not_purged()
    home = tmp_path / "home"
    home.mkdir()
    start = time.monotonic()
    # A bare environment, as a desktop launcher gives it: no virtual environment.
    proc = subprocess.run(["bash", str(SMOKE_SH), str(installed.app)], capture_output=True,
                          text=True, timeout=900, env={"PATH": "/usr/bin:/bin", "HOME": str(home),
                                                      "LANG": "C.UTF-8", **smoke_env})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    if flavour.client:
        assert "frames of the team server's audio" in proc.stdout, proc.stdout
    figures[f"{flavour.name}: smoke test of the installed app (smoke.sh wall)"] = \
        f"{time.monotonic() - start:.1f} s"


def test_purge_keeps_user_data_and_says_how_to_delete_it(installed, flavour, figures):
    installed.check_not_purged()
    root = installed.root
    home = root / "home" / "someone"
    kept = debroot.write_user_data(home)
    installed.state["purged"] = True
    start = time.monotonic()
    proc = debroot.dpkg(root, "--purge", installed.package)
    figures[f"{flavour.name}: dpkg --purge in the root"] = f"{time.monotonic() - start:.0f} s"
    debroot.check_purged(root, proc, home, kept, package=installed.package, gone=[
        "opt/arcus-desktop", "usr/bin/arcus-desktop",
        f"usr/share/applications/{debroot.APP_ID}.desktop",
        f"usr/share/icons/hicolor/scalable/apps/{debroot.APP_ID}.svg"])


def _tree(top: Path) -> dict[str, tuple]:
    """Every entry under top: its kind, size and mode (a link: its target)."""
    tree = {}
    for folder, dirs, files in os.walk(top):
        for name in dirs + files:
            path = Path(folder, name)
            st = path.lstat()
            rel = str(path.relative_to(top))
            tree[rel] = (os.readlink(path),) if path.is_symlink() else \
                (path.is_dir(), 0 if path.is_dir() else st.st_size, st.st_mode & 0o777)
    return tree
