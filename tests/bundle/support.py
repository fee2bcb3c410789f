"""For the bundle tests: disk space (what is free, what their files use) and running a
build script whose whole process tree ends if it overruns."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path


def free_gb(path: Path) -> float:
    return shutil.disk_usage(path).free / 1e9


def used_gb(*paths: Path) -> float:
    """Disk used by the files under paths (each file once, however many links it has)."""
    seen, total = set(), 0
    for top in paths:
        for folder, dirs, files in os.walk(top):
            for name in dirs + files:
                st = os.lstat(os.path.join(folder, name))
                if (st.st_dev, st.st_ino) not in seen:
                    seen.add((st.st_dev, st.st_ino))
                    total += st.st_blocks * 512
    return total / 1e9


def run(cmd: list[str], timeout: float, **kwargs) -> subprocess.CompletedProcess:
    """subprocess.run with output captured, in a session of its own: on timeout every
    process the command started is killed (PyInstaller, dpkg-deb), not only the shell."""
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          start_new_session=True, **kwargs) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            raise AssertionError(f"{cmd} ran past {timeout:.0f} s:\n{(out + err)[-8000:]}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)
