"""A real PulseAudio daemon for tests, with no sound card: a null sink `spk` (whatever
is played there can be recorded from `spk.monitor`) and a pipe source `mic` that plays
what the test writes into its FIFO. PortAudio reaches it through ALSA's pulse plugin."""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import threading
from pathlib import Path

from .supabase_stack import wait_until


@contextlib.contextmanager
def pulse_server(rate: int = 24_000):
    runtime = Path(tempfile.mkdtemp(prefix="arcus-pulse-"))
    socket, fifo = runtime / "native", runtime / "mic.fifo"
    env = dict(os.environ, PULSE_RUNTIME_PATH=str(runtime), HOME=str(runtime))
    daemon = subprocess.Popen(
        ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no",
         "--disallow-exit=no", "-L", f"module-native-protocol-unix socket={socket} auth-anonymous=1",
         "-L", "module-null-sink sink_name=spk rate=48000",
         "-L", f"module-pipe-source source_name=mic file={fifo} format=s16le rate={rate} channels=1",
         "-L", "module-always-sink"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    saved = {k: os.environ.get(k) for k in ("PULSE_SERVER", "PULSE_RUNTIME_PATH")}
    os.environ["PULSE_SERVER"] = f"unix:{socket}"
    os.environ["PULSE_RUNTIME_PATH"] = str(runtime)
    try:
        def ready() -> bool:
            if daemon.poll() is not None:
                raise RuntimeError(f"pulseaudio exited: {daemon.stderr.read().decode()[-2000:]}")
            return subprocess.run(["pactl", "info"], capture_output=True).returncode == 0

        wait_until(ready, "PulseAudio to accept clients")
        for cmd in (["set-default-sink", "spk"], ["set-default-source", "mic"]):
            subprocess.run(["pactl", *cmd], check=True, capture_output=True)
        yield fifo
    finally:
        daemon.terminate()
        daemon.wait(10)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def feed(fifo, pcm, stop=None, loop: bool = False, realtime: bool = False) -> threading.Thread:
    """A thread playing `pcm` (24 kHz float) into the microphone FIFO, once or until
    `stop` is set; it ends quietly when the daemon goes away. `realtime`: 100 ms at a
    time at the pace a microphone has; otherwise the pipe source reads as fast as it
    can, which keeps the daemon busy on a whole core."""
    import time

    import numpy as np

    data = (np.clip(pcm, -1, 1) * 32767).astype("<i2").tobytes()
    stop = stop or threading.Event()

    def run():
        due = time.monotonic()
        try:
            with open(fifo, "wb", buffering=0 if realtime else -1) as f:  # the microphone
                while True:
                    for start in range(0, len(data), 4800):
                        if stop.is_set():
                            return
                        f.write(data[start:start + 4800])
                        if realtime:  # a sound card's clock, not a test waiting
                            due += 0.1
                            stop.wait(max(0.0, due - time.monotonic()))
                    if not loop:
                        return
        except BrokenPipeError:
            pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread
