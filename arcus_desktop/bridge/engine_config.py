"""Which engine process the settings ask for, and starting it: the local engine's
HostConfig (engine.host) or a team server's RemoteConfig (remote.host), each under its
supervisor. Also the settings other parts keep in files of their own (recordings) or in
the system (start at login)."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import QObject

from ..core import modes
from ..engine.host import HostConfig
from ..remote.host import RemoteConfig
from ..settings.app_settings import AppSettings


def host_config(s: AppSettings) -> HostConfig | RemoteConfig:
    """The engine process's settings: a team server's (mode SERVER), or a local one's."""
    if s.engine.mode == modes.SERVER:
        return RemoteConfig(server_url=s.engine.server_url,
                            fingerprint=s.engine.server_fingerprint,
                            input_device=s.audio.input_device or None,
                            output_device=s.audio.output_device or None,
                            echo_cancellation=s.audio.echo_cancellation)
    return HostConfig(model_dir=s.engine.model_folder,
                      device="cpu" if s.engine.mode == modes.CPU else "auto",
                      quant_mode=s.engine.mode, input_device=s.audio.input_device or None,
                      output_device=s.audio.output_device or None,
                      echo_cancellation=s.audio.echo_cancellation)


def start_engine(config: HostConfig | RemoteConfig | None = None) -> QObject:
    """The engine process (started on the first conversation, then kept): a local one,
    or one that talks to a team server (a RemoteConfig, settings' mode SERVER)."""
    from .engine_supervisor import EngineSupervisor

    if isinstance(config, RemoteConfig):
        from .remote_supervisor import RemoteSupervisor

        return RemoteSupervisor(config)
    return EngineSupervisor(config or HostConfig())


def apply_elsewhere(s: AppSettings) -> None:
    """Write what `s` says into the recordings' own settings file (the engine process reads
    it for each conversation) and the system's start-at-login entry, where they differ.
    Raises OSError when one cannot be written."""
    from ..settings import autostart, recording

    kept = recording.load()
    wanted = replace(kept, enabled=s.data.keep_recordings, keep_days=s.data.retention_days)
    if wanted != kept:
        recording.save(wanted)
    if autostart.enabled() != s.data.start_at_login:
        autostart.set_enabled(s.data.start_at_login)


def start_at_login() -> bool:
    """Whether the system's start-at-login entry is there (it may refuse to be written)."""
    from ..settings import autostart

    return autostart.enabled()


def damaged_settings_files() -> list[tuple[str, str]]:
    """(message, hint) of each settings file found damaged since the last call."""
    from ..settings import json_file

    return json_file.take_notices()
