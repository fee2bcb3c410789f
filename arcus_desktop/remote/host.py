"""The remote engine's process: engine/host.py's commands and events, the same audio,
turns and recording (engine.host.converse_live), but the model is a team server
(client.RemoteLoop). Nothing here loads torch: a laptop without it talks through a
server. The token comes from the keyring here, off the app's GUI thread.

As with the local engine, a conversation that cannot start or goes on failing (the
server unreachable, the token refused, the server full, the connection lost for good)
ends with EngineFailed and the process stays ready for the next."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from ..core.errors import ArcusError
from ..core.events import DeviceChanged, EngineFailed, Loading, StateChanged
from ..engine.event_sender import EventSender
from ..engine.host import converse_live, leave_if_stuck, run_process
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
    run_process(_serve, config, commands, connection, "The remote engine")


class _Controls:
    """What the app set that outlives a conversation: mute, volume, devices."""

    def __init__(self, config: RemoteConfig) -> None:
        self.config = config
        self.muted, self.volume = False, 1.0

    def take(self, command: str, arg) -> None:
        if command == "mute":
            self.muted = bool(arg)
        elif command == "volume":
            self.volume = float(arg)
        elif command == "devices":
            self.devices(arg)

    def devices(self, pair) -> None:
        self.config.input_device, self.config.output_device = pair


def _serve(config: RemoteConfig, commands, events: EventSender) -> None:
    events.send(StateChanged("loading"))
    if not config.server_url.strip():
        raise ArcusError("No team server address is set.",
                         "Enter it in Settings > Engine, e.g. https://gpu-box:8998.")
    events.send(Loading(1.0, "Ready"))
    events.send(StateChanged("ready"))
    controls = _Controls(config)
    while True:
        command, arg = commands.recv()
        controls.take(command, arg)
        if command == "shutdown":
            events.send(StateChanged("stopped", "shut down"))
            return
        if command == "start":
            try:
                stop = _conversation(config, arg or {}, commands, events, controls)
            except ArcusError as e:  # this conversation only: the next may work
                events.send(EngineFailed(e.message, e.hint))
                stop = None
            events.send(StateChanged("ready"))
            if stop == "shutdown":
                events.send(StateChanged("stopped", "shut down"))
                return


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
        return _talk(remote, config, start, commands, events, controls)


def _talk(remote: RemoteLoop, config: RemoteConfig, start: dict, commands, events,
          controls) -> str:
    """The conversation on the devices, as engine.host._talk has it."""
    from ..audio.duplex import DuplexAudio
    from ..audio.echo import EchoCanceller

    def notice(n) -> None:
        events.send(DeviceChanged(n.reason, n.message, n.input_name, n.output_name))

    audio = DuplexAudio(config.input_device, config.output_device,
                        EchoCanceller(enabled=config.echo_cancellation), on_notice=notice)
    try:
        with audio:
            audio.muted, audio.volume = controls.muted, controls.volume
            events.send(StateChanged("talking", start.get("conversation") or ""))
            stop = converse_live(remote, audio, commands, events, float(start.get("offset", 0)),
                                 persona_name=start.get("persona_name", ""),
                                 on_devices=controls.devices)
            controls.muted, controls.volume = audio.muted, audio.volume
    except ArcusError as e:
        if audio.stuck:
            remote.close()
        leave_if_stuck(audio, events, EngineFailed(e.message, e.hint))
        raise
    if audio.stuck:
        remote.close()
    leave_if_stuck(audio, events, stop=stop)
    return stop
