"""`arcus-desktop serve` as a team runs it: a process of its own; SIGTERM drains it (the
running conversation finishes, a new one is refused) and it exits cleanly."""

import asyncio
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from arcus_desktop.audio.files import read_mono
from arcus_desktop.engine import constants as C

from ..conftest import AUDIO
from .wire import FRAME, Client

ROOT = Path(__file__).resolve().parents[2]


def _codec_workers(parent: int) -> list[int]:
    """The Opus worker processes `serve` started (server/codec_pool.py)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if ppid == parent and b"spawn_main" in (proc / "cmdline").read_bytes():
                found.append(int(proc.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_sigterm_drains_then_exits(tiny_model):
    speech = read_mono(AUDIO / "input_service.wav", C.SAMPLE_RATE)[: 8 * FRAME]
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT), NO_TORCH_COMPILE="1")
    env.pop("ARCUS_SERVER_TOKEN", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "arcus_desktop", "serve", "--model-dir", str(tiny_model),
         "--device", "cpu", "--port", str(port), "--max-sessions", "2", "--no-stt"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env, cwd=ROOT)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stderr], daemon=True).start()

    def wait_line(word: str) -> str:
        while True:
            line = lines.get(timeout=120)
            if word in line:
                return line

    try:
        assert "2 conversation slots" in wait_line("serving")
        workers = _codec_workers(proc.pid)
        assert workers  # started with the server
        base = f"ws://127.0.0.1:{port}"

        async def go():
            async with await Client.open(base, text_prompt="Hi.", voice_prompt="NATF2.pt") as c:
                await c.handshake()
                await c.stream(speech[: 4 * FRAME])
                proc.send_signal(signal.SIGTERM)
                await asyncio.to_thread(wait_line, "draining")
                late = await Client.open(base, text_prompt="Hi.")
                refused = await late.read_close()
                await late.close()
                await c.stream(speech[4 * FRAME:])
                return refused, c.got.samples

        (code, reason), samples = asyncio.run(go())
        assert code == 1013 and reason.startswith("draining:")
        assert samples >= 8 * FRAME
        assert proc.wait(timeout=60) == 0
        assert not any(Path(f"/proc/{pid}").exists() for pid in workers)  # none left behind
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_an_upload_that_decodes_to_an_hour_is_read_only_as_far_as_used(tiny_model, tmp_path):
    # Issue 15: a small FLAC of silence decoded whole (hours of samples resident) before
    # the first 30 s were kept. Only what is used may be decoded.
    import json
    import urllib.request

    from ..bombs import PeakMemory, silent_flac

    bomb = silent_flac(tmp_path / "silence.flac", 60 * 60).read_bytes()  # 1 h: ~0.5 MB
    assert len(bomb) < 2**20
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT), NO_TORCH_COMPILE="1")
    env.pop("ARCUS_SERVER_TOKEN", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "arcus_desktop", "serve", "--model-dir", str(tiny_model),
         "--device", "cpu", "--port", str(port), "--no-stt"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env, cwd=ROOT)
    try:
        for line in proc.stderr:
            if "serving" in line:
                break
        threading.Thread(target=proc.stderr.read, daemon=True).start()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/voices", data=bomb,
                                         method="POST")
        with PeakMemory(proc.pid) as peak:
            with urllib.request.urlopen(request, timeout=300) as r:
                answer = json.loads(r.read())
        assert answer["seconds"] == pytest.approx(3600, abs=1)
        assert answer["trimmed_seconds"] == pytest.approx(3570, abs=1)
        # The 30 s used, decoded and Mimi-encoded, took 168 MiB here; the whole hour
        # decoded took 1978 MiB before the fix.
        assert peak.grew < 500 * 2**20, f"{peak.grew / 2**20:.0f} MiB"
    finally:
        proc.kill()
        proc.wait()
