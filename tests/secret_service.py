"""A real OS password store for tests: a private D-Bus session with gnome-keyring's
Secret Service, unlocked, and keyring pointed at it (what a Linux desktop user has)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile

import keyring
from keyring.backends import SecretService

from .supabase_stack import wait_until


# A session bus without service activation: a query made before our unlocked daemon is
# on the bus must fail (and be retried), not start a second, locked gnome-keyring.
BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={home}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


@contextlib.contextmanager
def secret_service():
    home = tempfile.mkdtemp(prefix="arcus-keyring-")
    config = os.path.join(home, "bus.conf")
    with open(config, "w") as f:
        f.write(BUS_CONFIG.format(home=home))
    out = subprocess.run(["dbus-daemon", f"--config-file={config}", "--fork", "--print-address=1",
                          "--print-pid=1"], capture_output=True, text=True, check=True)
    address, pid = out.stdout.split()[:2]
    saved = {k: os.environ.get(k) for k in ("DBUS_SESSION_BUS_ADDRESS",)}
    os.environ["DBUS_SESSION_BUS_ADDRESS"] = address
    before = keyring.get_keyring()
    try:
        subprocess.run(["gnome-keyring-daemon", "--unlock", "--components=secrets", "--daemonize"],
                       input="test-password", capture_output=True, text=True, check=True,
                       env=dict(os.environ, HOME=home, XDG_DATA_HOME=home, XDG_RUNTIME_DIR=home))
        _wait_for_login_collection()
        backend = SecretService.Keyring()
        keyring.set_keyring(backend)
        yield backend
    finally:
        keyring.set_keyring(before)
        os.kill(int(pid), signal.SIGTERM)  # the keyring daemon leaves with its bus
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _wait_for_login_collection() -> None:
    """--daemonize returns before the daemon has made its unlocked login keyring; using
    it earlier asks for a prompt that nobody can answer."""
    import secretstorage

    def ready() -> bool:
        try:
            with contextlib.closing(secretstorage.dbus_init()) as conn:
                return any(c.get_label().lower() == "login"
                           for c in secretstorage.get_all_collections(conn))
        except Exception:  # not on the bus yet
            return False

    wait_until(ready, "gnome-keyring's login keyring")


def saved_names(backend, service: str = "arcus-desktop") -> set[str]:
    """The names saved under our service (read from the Secret Service itself)."""
    collection = backend.get_preferred_collection()
    return {item.get_attributes().get("username", "")
            for item in collection.search_items({"service": service})}
