"""A real PulseAudio daemon for tests, with no sound card: a null sink `spk` (whatever
is played there can be recorded from `spk.monitor`) and a pipe source `mic` that plays
what the test writes into its FIFO. PortAudio reaches it through ALSA's pulse plugin.

`headset()` adds a USB headset that can be pulled out mid-stream, `steady_sink()` keeps
a null sink from stalling new streams: see there."""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from .supabase_stack import wait_until


def _daemon(runtime: Path, modules: list[str]) -> tuple[subprocess.Popen, str]:
    """A PulseAudio daemon of its own in `runtime` with only `modules`; (process, server)."""
    socket = runtime / "native"
    env = dict(os.environ, PULSE_RUNTIME_PATH=str(runtime), HOME=str(runtime))
    args = ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no",
            "--disallow-exit=no", "-L",
            f"module-native-protocol-unix socket={socket} auth-anonymous=1"]
    for module in modules:
        args += ["-L", module]
    daemon = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    server = f"unix:{socket}"

    def ready() -> bool:
        if daemon.poll() is not None:
            raise RuntimeError(f"pulseaudio exited: {daemon.stderr.read().decode()[-2000:]}")
        return subprocess.run(["pactl", "-s", server, "info"], capture_output=True).returncode == 0

    try:
        wait_until(ready, "PulseAudio to accept clients")
    except BaseException:
        daemon.terminate()
        raise
    return daemon, server


@contextlib.contextmanager
def pulse_server(rate: int = 24_000):
    runtime = Path(tempfile.mkdtemp(prefix="arcus-pulse-"))
    fifo = runtime / "mic.fifo"
    daemon, server = _daemon(runtime, [
        "module-null-sink sink_name=spk rate=48000",
        f"module-pipe-source source_name=mic file={fifo} format=s16le rate={rate} channels=1",
        "module-always-sink"])
    saved = {k: os.environ.get(k) for k in ("PULSE_SERVER", "PULSE_RUNTIME_PATH")}
    os.environ["PULSE_SERVER"] = server
    os.environ["PULSE_RUNTIME_PATH"] = str(runtime)
    try:
        for cmd in (["set-default-sink", "spk"], ["set-default-source", "mic"]):
            subprocess.run(["pactl", *cmd], check=True, capture_output=True)
        yield fifo
    finally:
        daemon.terminate()
        daemon.wait(10)
        _restore(saved)


def _restore(saved: dict) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@contextlib.contextmanager
def steady_sink(sink: str = "spk", server: str | None = None):
    """Silence played into `sink` for the time of the block. An idle null sink renders
    in blocks of up to 2 s, so a stream that starts on it waits ~1.8 s for its first
    callback (while its capture side piles up that much backlog), and again whenever an
    underrun restarts it; kept running at 20 ms, it starts streams at once, as a sound
    card does. It adds nothing to what the monitor records."""
    where = ["-s", server] if server else []
    with open("/dev/zero", "rb") as zeros:
        player = subprocess.Popen(["pacat", "--playback", "--raw", "--format=s16le", "--rate=48000",
                                   "--channels=1", "--latency-msec=20", "-d", sink, *where],
                                  stdin=zeros, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # Running once its monitor delivers: the sink's first block at the new latency
        # comes only when the idle one it was sleeping through ends.
        monitor = subprocess.Popen(["parec", "--raw", "--latency-msec=20", "-d",
                                    f"{sink}.monitor", *where], stdout=subprocess.PIPE)
        try:
            if not select.select([monitor.stdout], [], [], 20)[0]:
                raise TimeoutError(f"{sink} did not start playing within 20 s")
        finally:
            monitor.terminate()
            monitor.wait(10)
        yield
    finally:
        player.terminate()
        player.wait(10)


class Headset:
    """A headset on a PulseAudio daemon of its own, which ALSA (so PortAudio, after a
    rescan) lists as the device `name`, input and output. Why its own daemon: PulseAudio
    moves a stream to another device when its device goes away (the ALSA pulse plugin
    does not pin it), so a headset on the main daemon would never break a stream; here
    nothing is left to move to, and the stream ends as when a USB headset is pulled."""

    def __init__(self, name: str, server: str, fifo: Path, conf: Path) -> None:
        self.name, self.server, self.fifo, self._conf = name, server, fifo, conf
        self.monitor = f"{name}_spk.monitor"  # records what was played on the headset
        conf.write_text(
            f'pcm.{name} {{\n  type asym\n'
            f'  playback.pcm {{ type pulse; server "{server}"; device "{name}_spk" }}\n'
            f'  capture.pcm {{ type pulse; server "{server}"; device "{name}_mic" }}\n}}\n')

    def pactl(self, *args: str) -> str:
        return subprocess.run(["pactl", "-s", self.server, *args], check=True,
                              capture_output=True, text=True).stdout

    def unplug(self) -> None:
        """The headset goes away: its microphone and speaker leave the daemon (streams on
        them end) and its ALSA device leaves the list PortAudio reads on a rescan."""
        for module in ("module-pipe-source", "module-null-sink"):
            self.pactl("unload-module", module)
        self._conf.write_text("")


@contextlib.contextmanager
def headset(name: str = "headset", rate: int = 24_000):
    """A `Headset` (above) for the time of the block; its microphone plays what is
    written into `.fifo` (use `feed`)."""
    runtime = Path(tempfile.mkdtemp(prefix="arcus-headset-"))
    fifo = runtime / "mic.fifo"
    daemon, server = _daemon(runtime, [
        f"module-null-sink sink_name={name}_spk rate=48000",
        f"module-pipe-source source_name={name}_mic file={fifo} format=s16le rate={rate} "
        "channels=1"])
    saved = {"ALSA_CONFIG_PATH": os.environ.get("ALSA_CONFIG_PATH")}
    conf = runtime / "asound.conf"
    device = Headset(name, server, fifo, conf)
    base = saved["ALSA_CONFIG_PATH"] or "/usr/share/alsa/alsa.conf"
    os.environ["ALSA_CONFIG_PATH"] = f"{base}:{conf}"  # alsa-lib reads every file listed
    try:
        with steady_sink(f"{name}_spk", server):  # ends by itself when the headset is pulled
            yield device
    finally:
        daemon.terminate()
        daemon.wait(10)
        _restore(saved)


def feed(fifo, pcm, stop=None, loop: bool = False, realtime: bool = True) -> threading.Thread:
    """A thread playing `pcm` (24 kHz float) into the microphone FIFO, once or until
    `stop` is set; it ends quietly when the daemon goes away. `realtime` writes 20 ms
    at a time as a microphone would; without it the pipe source takes whatever is
    written at once, as no microphone delivers (the app drops audio that arrives in
    such a heap as stale, and a loop spins a core)."""
    import numpy as np

    data = (np.clip(pcm, -1, 1) * 32767).astype("<i2").tobytes()
    step = 960 if realtime else 4800  # bytes: 20 ms, or 100 ms
    stop = stop or threading.Event()

    def run():
        begun, written = time.monotonic(), 0
        try:
            with open(fifo, "wb") as f:  # the daemon reads it as the microphone
                while True:
                    for start in range(0, len(data), step):
                        if stop.is_set():
                            return
                        f.write(data[start:start + step])
                        written += step
                        if realtime:  # wait until the clock has caught up with the audio
                            f.flush()
                            stop.wait(begun + written / 48_000 - time.monotonic())
                    if not loop:
                        return
        except (BrokenPipeError, FileNotFoundError):
            pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread
