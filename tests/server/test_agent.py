"""`serve --agent-port`: what a load balancer's agent check and an orchestrator's
readiness probe read (server/agent.py), over real loopback sockets, as the server fills,
drains and fails; and /healthz saying the same."""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.error
import urllib.request

import pytest

from arcus_desktop.server import agent as A

from .conftest import start_server
from .wire import Client


@pytest.fixture
def running(engine):
    server = start_server(engine, max_sessions=2, agent_port=0)
    yield server
    server.close()


def agent(running, send: bytes = b"ready?\n") -> str:
    async def ask() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", running.server.agent.port)
        writer.write(send)
        answer = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        return answer

    return asyncio.run(ask()).decode()


def probe(running, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(path, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_the_agent_reports_free_slots_drain_and_failure(running):
    ready = f"http://127.0.0.1:{running.server.agent.port}/healthz"
    assert agent(running) == "up ready 100%\n"
    assert agent(running, b"") == "up ready 100%\n"  # HAProxy without agent-send: after SILENT_S
    assert probe(running, ready) == (200, "ok 2/2 free\n")

    async def hold(n: int):
        clients = [await Client.open(running.base, text_prompt="Hi.") for _ in range(n)]
        for c in clients:
            await c.handshake()
        return clients

    async def check_full():
        clients = await hold(1)
        half = await asyncio.to_thread(agent, running)
        clients += await hold(1)
        full = await asyncio.to_thread(agent, running)
        ready_full = await asyncio.to_thread(probe, running, ready)
        health = await asyncio.to_thread(probe, running, f"{running.http}/healthz")
        for c in clients:
            await c.close()
        return half, full, ready_full, health

    half, full, ready_full, (status, body) = asyncio.run(check_full())
    assert half == "up ready 50%\n"
    assert full == "up ready 0%\n"  # weight 0: no new conversation, the two go on
    assert ready_full == (503, "full 0/2 free\n")
    assert status == 503 and json.loads(body)["status"] == "full"
    running.wait_idle()
    running.server.draining = True
    assert agent(running) == "drain\n"
    assert probe(running, ready) == (503, "draining 0/2 free\n")
    running.server.draining = False


def test_a_failed_engine_is_down():
    # The batch loop fails only when its thread dies: a stand-in for a server whose did.
    from types import SimpleNamespace

    from arcus_desktop.server import agent as A

    loop = SimpleNamespace(failed=RuntimeError("CUDA error"), sessions=1,
                           stats=lambda: SimpleNamespace(sessions=1, max_sessions=4))
    server = SimpleNamespace(loop=loop, draining=False)
    assert A.agent_line(server) == "down\n"
    assert A.http_answer(server).startswith(b"HTTP/1.0 503 ")


def test_a_request_head_over_the_limit_is_cut_off(running):
    answer = agent(running, b"GET / HTTP/1.1\r\n" + b"X: " + b"a" * 8000 + b"\r\n\r\n")
    assert answer == ""


def test_a_connection_that_sends_nothing_is_answered_without_waiting_for_a_head(running, monkeypatch):
    """The short window is for the first byte; READ_S (an HTTP head's) does not apply."""
    monkeypatch.setattr(A, "READ_S", 60.0)
    assert agent(running, b"") == "up ready 100%\n"  # `agent` gives up after 10 s


def test_silent_connections_from_one_address_leave_room_for_probes(running, monkeypatch):
    """40 connections from one address that send nothing: those over its share are
    closed at once, and a probe from another address is answered while the rest wait.
    (Before, they took all 32 places and the probes were reset.)"""
    monkeypatch.setattr(A, "SILENT_S", 60.0, raising=False)  # held through the test
    monkeypatch.setattr(A, "READ_S", 60.0)
    port = running.server.agent.port

    async def go():
        loop = asyncio.get_running_loop()
        closed = 0
        over_share_closed = asyncio.Event()

        async def until_closed(sock: socket.socket) -> None:
            nonlocal closed
            try:
                while await loop.sock_recv(sock, 64):
                    pass
            except ConnectionError:
                pass
            closed += 1
            if closed == 40 - A.PER_ADDRESS:
                over_share_closed.set()

        silent = [socket.socket() for _ in range(40)]
        reads = []
        try:
            for sock in silent:
                sock.setblocking(False)
                sock.bind(("127.0.0.2", 0))
                await loop.sock_connect(sock, ("127.0.0.1", port))
            reads = [asyncio.ensure_future(until_closed(sock)) for sock in silent]
            answer = await asyncio.to_thread(probe, running, f"http://127.0.0.1:{port}/healthz")
            await asyncio.wait_for(over_share_closed.wait(), 30)
            return answer, closed
        finally:
            for task in reads:
                task.cancel()
            await asyncio.gather(*reads, return_exceptions=True)
            for sock in silent:
                sock.close()

    answer, closed = asyncio.run(go())
    assert answer == (200, "ok 2/2 free\n")
    assert closed == 40 - A.PER_ADDRESS  # the rest were still held
