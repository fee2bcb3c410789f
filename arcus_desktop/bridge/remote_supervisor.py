"""The remote engine, for the app: EngineSupervisor's signals and methods, but its
process (remote/host.py) talks to a team server instead of loading the model. Audio,
turns and the recording stay on this computer, in that process. A dropped connection
is mended inside the process (a notice says so; same conversation id); the process
itself is restarted on a crash, as the local engine's is."""

from __future__ import annotations

from PySide6.QtCore import QObject

from ..remote.host import RemoteConfig, main as remote_main
from .engine_supervisor import EngineSupervisor


class RemoteSupervisor(EngineSupervisor):
    target = staticmethod(remote_main)
    makes_samples = False  # no model here; the team server makes no voice samples (yet)

    def __init__(self, config: RemoteConfig, parent: QObject | None = None) -> None:
        super().__init__(config, parent)
