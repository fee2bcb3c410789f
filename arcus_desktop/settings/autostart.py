"""Start at login, the way each system does it: an XDG autostart entry on Linux, the
per-user Run key on Windows, a LaunchAgent on macOS. The command is the one this app
was started with, so a frozen build and a pip install both come back as they are."""

from __future__ import annotations

import os
import plistlib
import shlex
import sys
from pathlib import Path

APP_ID = "io.arcus.ArcusDesktop"
RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"


def command() -> list[str]:
    # At login no terminal shows a failed start: --window-errors says it in a window.
    if getattr(sys, "frozen", False):  # the packaged app: its own executable
        return [sys.executable, "--window-errors"]
    return [sys.executable, "-m", "arcus_desktop", "--window-errors"]


def _xdg_entry() -> Path:
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "autostart" / f"{APP_ID}.desktop"


def _launch_agent() -> Path:
    return Path.home() / "Library" / "LaunchAgents" / f"{APP_ID}.plist"


def enabled() -> bool:
    if sys.platform == "win32":
        import winreg

        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
                winreg.QueryValueEx(key, APP_ID)
            return True
        except OSError:
            return False
    return (_launch_agent() if sys.platform == "darwin" else _xdg_entry()).is_file()


def set_enabled(on: bool) -> None:
    """Raises OSError when the entry cannot be written or removed."""
    if sys.platform == "win32":
        _windows(on)
    elif sys.platform == "darwin":
        _write_or_remove(_launch_agent(), plistlib.dumps(
            {"Label": APP_ID, "ProgramArguments": command(), "RunAtLoad": True}) if on else None)
    else:
        entry = ("[Desktop Entry]\nType=Application\nName=Arcus Desktop\n"
                 f"Exec={shlex.join(command())}\nIcon={APP_ID}\nTerminal=false\n"
                 "X-GNOME-Autostart-enabled=true\n")
        _write_or_remove(_xdg_entry(), entry.encode() if on else None)


def _write_or_remove(path: Path, data: bytes | None) -> None:
    if data is None:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _windows(on: bool) -> None:
    import subprocess
    import winreg

    with winreg.CreateKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
        if on:
            winreg.SetValueEx(key, APP_ID, 0, winreg.REG_SZ, subprocess.list2cmdline(command()))
        else:
            try:
                winreg.DeleteValue(key, APP_ID)
            except FileNotFoundError:
                pass
