"""Two tiny-model `serve` processes behind a real HAProxy (the shipped haproxy.cfg, as
tests/integration/test_haproxy.py runs it), on this machine's CPU: how a burst of
conversations spreads, and how long a conversation takes to land on the other server
after its own is killed (the app's remote engine, its own reconnect waits).

    PYTHONPATH=. python bench/lb_two_servers.py --slots 4 --burst 6 --kills 3
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from arcus_desktop.engine import testkit
from arcus_desktop.remote.client import ClientSettings, RemoteLoop
from tests.integration.test_haproxy import TOKEN, Conversation, HAProxy, Serve
from tests.integration.test_remote_client import TONE, Events, talk


def cluster(model: Path, slots: int, folder: Path):
    servers = [Serve(model, slots).started() for _ in range(2)]
    lb = HAProxy(servers, folder)
    lb.wait_until(lambda v: all(r["status"] == "UP" for r in v.values()), "both up")
    return lb, servers


def burst(model: Path, slots: int, n: int, folder: Path) -> dict:
    lb, servers = cluster(model, slots, folder)
    try:
        talks = [Conversation(lb.base) for _ in range(n)]  # all at once
        first = [t.first() for t in talks]
        split = [s.sessions() for s in servers]
        for t in talks:
            if t.proc.poll() is None and first[talks.index(t)] == "talking":
                t.end()
            else:
                t.kill()
        return {"clients": n, "talking": first.count("talking"), "split": split}
    finally:
        lb.stop()
        for s in servers:
            s.stop()


def kill_once(model: Path, folder: Path) -> float:
    lb, servers = cluster(model, 1, folder)
    try:
        events = Events()
        with RemoteLoop(lb.url, TOKEN, {"text": "Hi."}, None, None, events,
                        ClientSettings()) as loop:
            talk(loop, 10, TONE)
            (busy,) = [s for s in servers if s.sessions() == 1]
            killed = time.monotonic()
            busy.proc.kill()
            while not any("Reconnected" in m for m in events.notices()):
                assert time.monotonic() - killed < 120, events.notices()
                want = loop.received + 1
                loop.process(TONE)
                loop.wait_audio(want, 0.1)
            return time.monotonic() - killed
    finally:
        lb.stop()
        for s in servers:
            s.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--slots", type=int, default=4)
    ap.add_argument("--burst", type=int, default=6)
    ap.add_argument("--kills", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = testkit.write(Path(tmp) / "tiny")
        out = {"burst": burst(model, args.slots, args.burst, Path(tmp)),
               "landed_s": [round(kill_once(model, Path(tmp)), 2) for _ in range(args.kills)]}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
