"""The remote engine's process: engine/host.py's commands and events (the command loop of
core/command_loop.py), the same audio, turns and recording (engine.host.talk_on_devices),
but the model is a team server (client.RemoteLoop). Nothing here loads torch: a laptop
without it talks through a server. The token comes from the keyring here, off the app's
GUI thread.

As with the local engine, a conversation that cannot start or goes on failing (the
server unreachable, the token refused, the server full, the connection lost for good)
ends with EngineFailed and the process stays ready for the next."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from ..core import app_log
from ..core.command_loop import Controls, serve_commands
from ..core.errors import ArcusError
from ..core.events import Loading, StateChanged
from ..engine.event_sender import EventSender
from ..engine.host import run_process, talk_on_devices
from .client import ClientSettings, RemoteLoop


@dataclass
class RemoteConfig:
    server_url: str = ""
    token: str | None = field(default=None, repr=False)  # None: the keyring's, at each start
    fingerprint: str = ""  # the server's certificate, pinned; "" for the usual checks
    input_device: object = None
    output_device: object = None
    echo_cancellation: bool = True
    client: ClientSettings = field(default_factory=ClientSettings)


def main(config: RemoteConfig, commands, connection) -> None:
    """The process's entry point (spawned), as engine.host.main."""
    app_log.start()
    run_process(_serve, config, commands, connection, "The remote engine")


def _serve(config: RemoteConfig, commands, events: EventSender) -> None:
    events.send(StateChanged("loading"))
    if not config.server_url.strip():
        raise ArcusError("No team server address is set.",
                         "Enter it in Settings > Engine, e.g. https://gpu-box:8998.")
    events.send(Loading(1.0, "Ready"))
    events.send(StateChanged("ready"))
    controls = Controls(config)
    serve_commands(commands, events, controls,
                   lambda start: _conversation(config, start, commands, events, controls))


def _conversation(config: RemoteConfig, start: dict, commands, events, controls) -> str:
    token = config.token
    if token is None:
        from ..settings.app_settings import server_token
        token = server_token()
    remote = RemoteLoop(config.server_url, token, start.get("persona"), start.get("sampling"),
                        start.get("seed"), events, config.client, config.fingerprint)
    remote.start()
    with contextlib.closing(remote):
        # The server may take seconds to get the persona ready: the app may stop meanwhile.
        while not remote.wait_ready(0.1):
            while commands.poll():
                command, arg = commands.recv()
                controls.take(command, arg)
                if command in ("stop", "shutdown"):
                    return command
        return talk_on_devices(lambda: contextlib.nullcontext(remote), config, start,
                               controls, commands, events, on_stuck=remote.close)
