"""Several `serve` processes behind a real HAProxy (Debian's haproxy), all on loopback:
the shipped configuration (installer/server/haproxy.cfg) with only its addresses, its
certificate (no TLS here: loopback) and its check intervals changed; the tiny model on
the CPU; clients in processes of their own (tests/integration/lb_client.py) and the
app's remote engine (remote/client.py). Skipped where haproxy is not installed
(scripts/test.sh installs it)."""

from __future__ import annotations

import csv
import io
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from arcus_desktop.remote import protocol as P
from arcus_desktop.remote.client import ClientSettings, RemoteLoop

from .test_remote_client import FAST, TONE, Events, free_port, talk

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "installer" / "server"
TOKEN = "lb-team-token-0123456789"
WAIT_S = 120.0

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    shutil.which("haproxy") is None, reason="haproxy is not installed (apt-get install haproxy; "
                                           "scripts/test.sh does)")]


def _env() -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT), NO_TORCH_COMPILE="1", ARCUS_SERVER_TOKEN=TOKEN,
               OMP_NUM_THREADS="1")
    return env


class Lines:
    """A process's output, line by line, read on a thread; waits on what it says."""

    def __init__(self, stream) -> None:
        self.seen: list[str] = []
        self._q: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            self._q.put(line.rstrip("\n"))
        self._q.put(None)

    def wait(self, word: str, timeout: float = WAIT_S) -> str:
        deadline = time.monotonic() + timeout
        while True:
            line = self._q.get(timeout=max(0.01, deadline - time.monotonic()))
            if line is None:
                raise AssertionError(f"ended without {word!r}: {self.seen[-20:]}")
            self.seen.append(line)
            if line.startswith(word) or f" {word}" in line:
                return line


class Serve:
    """`arcus-desktop serve` with the tiny model and an agent port."""

    def __init__(self, model: Path, slots: int) -> None:
        self.slots = slots
        self.port, self.agent_port = free_port(), free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "arcus_desktop", "serve", "--model-dir", str(model),
             "--device", "cpu", "--port", str(self.port), "--max-sessions", str(slots),
             "--no-stt", "--agent-port", str(self.agent_port)],
            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=_env(), cwd=ROOT)
        self.log = Lines(self.proc.stderr)

    def started(self) -> "Serve":
        self.log.wait("serving")
        return self

    def health(self) -> dict:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/healthz",
                                         headers={"Authorization": f"Bearer {TOKEN}"})
        try:
            with urllib.request.urlopen(request, timeout=10) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:  # 503: full, draining
            return json.loads(e.read())

    def sessions(self) -> int:
        return self.health()["sessions"]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(30)


class HAProxy:
    """haproxy in the foreground with the shipped configuration, pointed at `servers`."""

    def __init__(self, servers: list[Serve], folder: Path) -> None:
        self.port, self.stats_port = free_port(), free_port()
        text = (SHIPPED / "haproxy.cfg").read_text()
        server_lines = "".join(
            f"    server gpu{i + 1} 127.0.0.1:{s.port} weight {s.slots} agent-port {s.agent_port}\n"
            for i, s in enumerate(servers))
        changes = [
            ("log /dev/log local0", "log stdout format raw local0"),
            ("bind :8998 ssl crt /etc/haproxy/arcus.pem alpn http/1.1",
             f"bind 127.0.0.1:{self.port}"),
            ("/etc/haproxy/errors/arcus-503.http", str(SHIPPED / "arcus-503.http")),
            (" ssl verify required ca-file /etc/haproxy/arcus-servers.pem", ""),
            # Checks far more often than a team needs: the tests wait on what they show.
            ("check inter 2s fall 2 rise 2", "check inter 200ms fall 1 rise 1"),
            ("agent-inter 1s", "agent-inter 100ms"),
            ("    server gpu1 10.0.0.11:8998 weight 40\n    server gpu2 10.0.0.12:8998 weight 64\n",
             server_lines),
            ("bind 127.0.0.1:8404", f"bind 127.0.0.1:{self.stats_port}"),
        ]
        for old, new in changes:
            assert old in text, f"the shipped haproxy.cfg changed: {old!r} is gone"
            text = text.replace(old, new)
        self.config = folder / "haproxy.cfg"
        self.config.write_text(text)
        self.proc = subprocess.Popen(["haproxy", "-db", "-f", str(self.config)],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.log = Lines(self.proc.stdout)
        self.url = f"http://127.0.0.1:{self.port}"
        self.base = f"ws://127.0.0.1:{self.port}"

    def servers(self) -> dict[str, dict]:
        """HAProxy's view of each server (its stats CSV): status, weight, connections."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.stats_port}/;csv", timeout=10) as r:
            text = r.read().decode().lstrip("# ")
        return {row["svname"]: row for row in csv.DictReader(io.StringIO(text))
                if row["pxname"] == "serve" and row["svname"] not in ("BACKEND", "FRONTEND")}

    def wait_until(self, test, what: str, timeout: float = WAIT_S) -> dict:
        deadline = time.monotonic() + timeout
        seen = None
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"haproxy stopped: {self.log.seen}"
            try:
                seen = self.servers()
            except OSError:  # not listening yet
                seen = None
            if seen is not None and test(seen):
                return seen
            # HAProxy's checks run every 100-200 ms: ask again at that pace.
            threading.Event().wait(0.05)
        brief = {n: (r["status"], r["weight"], r["scur"]) for n, r in (seen or {}).items()}
        raise AssertionError(f"HAProxy never showed {what}: {brief} (status, weight, connections)")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


class Conversation:
    """lb_client.py in a process of its own."""

    def __init__(self, base: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.integration.lb_client", base,
                                      TOKEN],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, env=_env(), cwd=ROOT)
        self.out = Lines(self.proc.stdout)

    def first(self) -> str:
        """`talking`, or how it was refused."""
        return self.out.wait("")

    def end(self) -> str:
        if self.proc.poll() is None:
            self.proc.stdin.write("stop\n")
            self.proc.stdin.flush()
        last = self.out.wait("done")
        assert self.proc.wait(30) == 0
        return last

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(30)


@pytest.fixture
def cluster(tiny_model, tmp_path):
    """`cluster(3, 1)`: servers with those slots behind HAProxy, all UP with full weight."""
    made: list = []

    def make(*slots: int):
        servers = [Serve(tiny_model, n) for n in slots]
        made.extend(servers)
        for s in servers:
            s.started()
        lb = HAProxy(servers, tmp_path)
        made.append(lb)
        lb.wait_until(lambda v: len(v) == len(slots) and all(
            r["status"] == "UP" and int(r["weight"]) == s.slots
            for r, s in zip(v.values(), servers)), "every server up at full weight")
        return lb, servers

    yield make
    for thing in reversed(made):
        thing.stop()


def test_conversations_spread_by_free_slots_not_round_robin(cluster):
    lb, (big, small) = cluster(3, 1)
    talks = []
    try:
        for _ in range(4):  # one after another: round robin would send a second to `small`
            talks.append(Conversation(lb.base))
            assert talks[-1].first() == "talking"
        assert (big.sessions(), small.sessions()) == (3, 1)
        # Both full now: HAProxy gives each weight 0, and says so in the app's words.
        lb.wait_until(lambda v: all(int(r["weight"]) == 0 for r in v.values()), "weight 0")
        events = Events()
        refused = RemoteLoop(lb.url, TOKEN, {"text": "Hi."}, None, None, events, FAST)
        refused.start()
        with pytest.raises(P.ServerUnavailable) as full:
            refused.wait_ready(60)
        refused.close()
        assert "Every team server is full" in full.value.message
        assert "HTTP 503" in full.value.message
    finally:
        for t in talks:
            t.end()


def test_a_full_server_takes_no_new_conversation(cluster):
    lb, (one, two) = cluster(2, 2)
    # `two` fills up with conversations HAProxy does not see (straight to its port):
    # only its agent can tell HAProxy, whose own count says `two` is the emptier.
    direct = [Conversation(f"ws://127.0.0.1:{two.port}") for _ in range(2)]
    try:
        assert [d.first() for d in direct] == ["talking", "talking"]
        lb.wait_until(lambda v: int(v["gpu2"]["weight"]) == 0 and int(v["gpu1"]["weight"]) == 2,
                      "the full server at weight 0")
        talks = [Conversation(lb.base) for _ in range(2)]
        assert [t.first() for t in talks] == ["talking", "talking"]
        assert (one.sessions(), two.sessions()) == (2, 2)
        for t in talks:
            t.end()
    finally:
        for d in direct:
            d.end()


def test_sigterm_drains_one_server_while_new_conversations_go_to_the_other(cluster):
    lb, servers = cluster(2, 2)
    first = Conversation(lb.base)
    assert first.first() == "talking"
    (busy,) = [s for s in servers if s.sessions() == 1]
    (other,) = [s for s in servers if s is not busy]
    name = f"gpu{servers.index(busy) + 1}"
    busy.proc.send_signal(signal.SIGTERM)
    busy.log.wait("draining")
    lb.wait_until(lambda v: v[name]["status"].startswith("DRAIN"), "the server draining")
    second = Conversation(lb.base)
    try:
        assert second.first() == "talking"
        assert other.sessions() == 1
        # The draining server's conversation goes on: 50 more frames (4 s) answered.
        assert first.out.wait("frames").startswith("frames")
        assert first.out.wait("frames").startswith("frames")
        assert busy.proc.poll() is None
        first.end()
        assert busy.proc.wait(60) == 0  # its last conversation ended: it stopped
        lb.wait_until(lambda v: v[name]["status"].startswith("DOWN"), "the stopped server down")
    finally:
        first.kill()
        second.end()


def test_a_killed_server_s_conversation_lands_on_the_other_through_haproxy(cluster):
    lb, servers = cluster(1, 1)
    events = Events()
    # The app's own reconnect waits (0.5 s before the first try): the time measured is
    # the one a user sees (docs/PERFORMANCE.md).
    with RemoteLoop(lb.url, TOKEN, {"text": "You are calm.", "voice": "NATF2"}, None, None,
                    events, ClientSettings()) as loop:
        talk(loop, 10, TONE)
        (busy,) = [s for s in servers if s.sessions() == 1]
        (other,) = [s for s in servers if s is not busy]
        killed = time.monotonic()
        busy.proc.kill()
        deadline = killed + WAIT_S
        while not any("Reconnected" in m for m in events.notices()):
            assert time.monotonic() < deadline, events.notices()
            want = loop.received + 1
            loop.process(TONE)
            loop.wait_audio(want, 0.1)  # paced by the server's answers while there are any
        landed_s = time.monotonic() - killed
        talk(loop, 10, TONE)  # the conversation goes on, on the other server
        assert other.sessions() == 1
    notices = events.notices()
    assert any(m.startswith("The connection to the team server dropped") for m in notices)
    assert loop.error is None
    print(f"\nlanded on the other server {landed_s:.2f} s after SIGKILL")


@pytest.mark.parametrize("name", ["haproxy.cfg", "haproxy-passthrough.cfg"])
def test_the_shipped_configurations_are_valid(name, tmp_path):
    """`haproxy -c` on each shipped file as a team installs it, only its file paths
    pointed at a certificate made here (nothing is started or contacted)."""
    from arcus_desktop.server.tls import make_cert

    make_cert(tmp_path / "cert")
    pem = tmp_path / "arcus.pem"
    pem.write_bytes((tmp_path / "cert" / "cert.pem").read_bytes()
                    + (tmp_path / "cert" / "key.pem").read_bytes())
    text = (SHIPPED / name).read_text()
    for old, new in [("/etc/haproxy/arcus.pem", str(pem)),
                     ("/etc/haproxy/arcus-servers.pem", str(tmp_path / "cert" / "cert.pem")),
                     ("/etc/haproxy/errors/arcus-503.http", str(SHIPPED / "arcus-503.http"))]:
        text = text.replace(old, new)
    config = tmp_path / name
    config.write_text(text)
    done = subprocess.run(["haproxy", "-c", "-f", str(config)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
