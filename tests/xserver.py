"""A real X server (Xvfb) for the tests that need X11: the tray under a tray host, the
global hotkey fired by xdotool. Xvfb picks a free display itself and writes its number
and a newline to a pipe once it accepts clients (the number alone can come earlier),
so there is nothing to wait for blindly."""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager

import pytest

START_S = 30


@contextmanager
def xvfb(screen: str = "800x600x24"):
    """Yields the display (":N"); skips the test with the reason when Xvfb cannot start."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (scripts/_setup.sh installs TEST_PACKAGES)")
    read_end, write_end = os.pipe()
    # -noreset: without it the server resets whenever its last client leaves, and refuses
    # the next one while it does.
    log = tempfile.TemporaryFile()  # not a pipe: nobody reads it while the server runs
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(write_end), "-nolisten", "tcp",
                             "-noreset", "-screen", "0", screen], pass_fds=(write_end,),
                            stdout=subprocess.DEVNULL, stderr=log)
    os.close(write_end)
    data, deadline = b"", time.monotonic() + START_S
    try:  # the number may come before the server is ready; the newline comes after
        while not data.endswith(b"\n") and time.monotonic() < deadline:
            ready, _, _ = select.select([read_end], [], [], deadline - time.monotonic())
            chunk = os.read(read_end, 32) if ready else b""
            if not chunk:
                break
            data += chunk
    finally:
        os.close(read_end)
    number = data.decode().strip() if data.endswith(b"\n") else ""
    if not number:
        proc.kill()
        proc.wait(10)
        log.seek(0)
        pytest.skip(f"the X server did not start: {log.read().decode(errors='replace')[-300:]}")
    try:
        yield f":{number}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def need(tool: str) -> str:
    """A tool the test cannot do without: missing is a set-up fault, not a reason to skip."""
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is not installed (scripts/_setup.sh installs TEST_PACKAGES)")
    return path


def x_env(display: str) -> dict:
    env = dict(os.environ, DISPLAY=display)
    env.pop("WAYLAND_DISPLAY", None)
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)  # the tray is then XEmbed, not a D-Bus item
    return env


def xdotool(display: str, *args: str) -> None:
    subprocess.run([need("xdotool"), *args], env=x_env(display), check=True, timeout=30,
                   stdout=subprocess.DEVNULL)
