"""Install a .deb into a throwaway root, leaving this machine's own package database,
files and dpkg log alone: `dpkg --root` (instdir and admindir inside the root) with
`--force-not-root` (no root needed) and `--force-script-chrootless` (the maintainer
scripts run on this system, without chroot, with $DPKG_ROOT set to the root: a script
that ignores it would act on the real system, which is what these tests look for).

The root's package database starts with the entries of this machine's database for the
packages the .deb depends on, so dpkg checks the Depends line against what is really
installed here instead of being forced past it. And the user data a purge must keep:
the places the app itself writes to for a user whose home is inside the root."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP_ID = "io.arcus.ArcusDesktop"
PACKAGE = "arcus-desktop"
# dpkg refuses to run without ldconfig and start-stop-daemon on PATH.
DPKG_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def missing_tools() -> str | None:
    """Why a .deb cannot be installed into a root here, or None."""
    for tool in ("dpkg", "dpkg-deb", "dpkg-query"):
        if not shutil.which(tool, path=DPKG_PATH):
            return f"{tool} is not installed (not a Debian/Ubuntu machine)"
    return None


def depends(deb: Path) -> list[str]:
    """The package names in the .deb's Depends line (every alternative)."""
    line = subprocess.run(["dpkg-deb", "-f", str(deb), "Depends"], check=True,
                          capture_output=True, text=True).stdout
    return [re.match(r"\s*([a-z0-9][a-z0-9.+-]*)", alt).group(1)
            for dep in line.split(",") if dep.strip() for alt in dep.split("|")]


def make_root(root: Path, deb: Path) -> None:
    admin = root / "var" / "lib" / "dpkg"
    for sub in ("info", "updates", "triggers"):
        (admin / sub).mkdir(parents=True, exist_ok=True)
    (root / "var" / "log").mkdir(parents=True, exist_ok=True)
    stanzas = []
    for name in depends(deb):
        # Not installed here: left out, and dpkg says which dependency is missing.
        proc = subprocess.run(["dpkg-query", "-s", name], capture_output=True, text=True)
        if proc.returncode == 0:
            stanzas.append(proc.stdout.strip() + "\n")
    (admin / "status").write_text("\n".join(stanzas))


def dpkg(root: Path, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{DPKG_PATH}:{os.environ.get('PATH', '')}"}
    return subprocess.run(["dpkg", f"--root={root}", f"--log={root}/var/log/dpkg.log",
                           "--force-not-root", "--force-script-chrootless", *args],
                          capture_output=True, text=True, env=env, timeout=timeout)


def status(root: Path, package: str = PACKAGE) -> str:
    """The package's dpkg status in the root ('' when dpkg does not know it)."""
    proc = subprocess.run(["dpkg-query", f"--admindir={root}/var/lib/dpkg", "-W",
                           "-f=${Status}", package], capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else ""


def user_paths(home: Path) -> dict[str, Path]:
    """Where the app keeps a user's data, settings, caches and login entry with this
    HOME, asked of the app's own code in a separate process (no XDG_* overrides)."""
    code = ("from arcus_desktop.core import paths\n"
            "from arcus_desktop.settings import autostart\n"
            "from arcus_desktop.bridge.settings_store import QSettingsStore\n"
            "print(paths.data_dir()); print(paths.cache_dir());"
            " print(QSettingsStore().location); print(autostart._xdg_entry())\n")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("XDG_", "ARCUS_DATA_DIR", "ARCUS_CACHE_DIR"))}
    env.update(HOME=str(home), QT_QPA_PLATFORM="offscreen",
               PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True, env=env, timeout=120).stdout.split("\n")
    data, cache, settings, login = (Path(line) for line in out[:4])
    for path in (data, cache, settings, login):
        assert path.is_relative_to(home), f"{path} is outside HOME={home}"
    return {"memories": data / "memory.db", "recording": data / "recordings" / "a.wav",
            "cache": cache / "voices" / "v.bin", "settings": settings, "autostart": login}


def write_user_data(home: Path) -> dict[Path, bytes]:
    """A user's files where the app puts them; returns their contents."""
    files = {}
    for name, path in user_paths(home).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"{name} of the user\n".encode())
        files[path] = path.read_bytes()
    return files


def purge_command(output: str) -> str:
    """The `rm -rf ~/...` line the postrm prints on purge (asserted to touch only ~/)."""
    lines = [line.strip() for line in output.splitlines() if line.strip().startswith("rm -rf ")]
    assert len(lines) == 1, f"purge printed {len(lines)} rm lines:\n{output}"
    targets = shlex.split(lines[0], posix=False)[2:]
    assert targets and all(t.startswith("~/") and ".." not in t for t in targets), lines[0]
    return lines[0]


def run_purge_command(command: str, home: Path) -> None:
    subprocess.run(["sh", "-c", command], check=True, timeout=60,
                   env={"HOME": str(home), "PATH": "/usr/bin:/bin"})


def check_purged(root: Path, proc: subprocess.CompletedProcess, home: Path,
                 kept: dict[Path, bytes], gone: list[str], package: str = PACKAGE) -> None:
    """After `dpkg --purge` (proc): the package's files (`gone`, relative to root) are
    gone, the user's files are untouched, and the command purge prints deletes every
    one of them and nothing else."""
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert status(root, package) in ("", "unknown ok not-installed")
    for path in gone:
        assert not (root / path).exists() and not (root / path).is_symlink(), path
    assert {path: path.read_bytes() for path in kept} == kept
    (home / "Documents").mkdir()
    run_purge_command(purge_command(proc.stdout), home)
    assert [path for path in kept if path.exists()] == []
    assert (home / "Documents").is_dir()
