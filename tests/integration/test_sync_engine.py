"""Two devices of one user, a teammate and a flaky server: the sync engine against a real
PostgreSQL + pgvector + PostgREST (tests/supabase_stack.py) through supabase-py. The one
stand-in is sign-in: there is no Supabase Auth server here, so tokens are signed with
PostgREST's secret as Supabase Auth would sign them."""

from __future__ import annotations

import uuid

import httpx
import pytest
from supabase import ClientOptions, create_client

from arcus_desktop.memory import replica
from arcus_desktop.memory.store import MemoryStore
from arcus_desktop.sync import engine as sync_engine
from arcus_desktop.sync.engine import SyncEngine
from arcus_desktop.sync.schema import schema_sql


TEAM = str(uuid.uuid4())


@pytest.fixture
def stack(supabase_stack):
    return supabase_stack


@pytest.fixture(autouse=True)
def no_leftover_faults(stack):
    yield
    stack.proxy.clear_faults()


def user_client(stack, user, timeout=10.0, token=None):
    token = token or stack.user_token(user)
    return create_client(stack.url, stack.anon_key, ClientOptions(
        headers={"Authorization": f"Bearer {token}"},
        postgrest_client_timeout=httpx.Timeout(timeout)))


def device(stack, tmp_path, embedder, user, name, **client_args):
    store = MemoryStore(tmp_path / f"{name}.db", embedder=embedder)
    return SyncEngine(store, user_client(stack, user, **client_args), user, name)


def contents(engine) -> dict[str, str]:
    return {m.id: m.content for m in engine.store.list(limit=-1)}


def server_rows(stack, user) -> list[tuple]:
    return stack.sql("select id, version, content, deleted_at is not null from memories "
                     "where user_id = %s order by id", user)


def test_two_devices_converge_after_concurrent_edits_and_deletes(stack, tmp_path, embedder):
    user = str(uuid.uuid4())
    a = device(stack, tmp_path, embedder, user, "laptop")
    b = device(stack, tmp_path, embedder, user, "desktop")
    x = a.store.add("semantic", "The launch is on November 12")
    y = a.store.add("procedural", "I prefer short answers")
    b.store.add("semantic", "Priya owns the database migration")
    for engine in (a, b, a):
        assert engine.sync_once().error is None
    assert contents(a) == contents(b) and len(contents(a)) == 3

    # Both edit x (same new version), a deletes y, b edits the migration fact.
    a.store.update(x.id, content="The launch moved to November 19")
    b.store.update(x.id, content="The launch moved to November 26")
    a.store.delete(y.id)
    z = next(m for m in b.store.list() if m.content.startswith("Priya"))
    b.store.update(z.id, content="Priya and Sam own the database migration")
    for engine in (a, b, a):
        status = engine.sync_once()
        assert status.error is None and status.pending == 0
    assert contents(a) == contents(b)
    assert contents(a)[x.id] == "The launch moved to November 19"  # pushed first, kept
    assert y.id not in contents(b)
    assert contents(a)[z.id] == "Priya and Sam own the database migration"
    # b's losing edit is history, not lost.
    assert replica.history(b.store, x.id) == [(2, "The launch moved to November 26", "conflict")]
    assert b.status.conflicts == 1
    # One row per memory on the server, the deleted one a tombstone without its text.
    rows = server_rows(stack, user)
    assert len(rows) == 3 and [r for r in rows if r[3]] == [(uuid.UUID(y.id), 2, "", True)]
    # Vectors travel: the other device finds the fact by meaning without re-embedding.
    hit = b.store.vector_search(b.store.embed_query("launch date"), 1)[0][0]
    assert b.store.by_nums([hit])[hit].id == x.id


def test_a_teammate_finds_shared_memories_and_never_private_ones(stack, tmp_path, embedder):
    alice, bob = str(uuid.uuid4()), str(uuid.uuid4())
    stack.sql("insert into arcus_team_members values (%s, %s), (%s, %s)", TEAM, alice, TEAM, bob)
    a = device(stack, tmp_path, embedder, alice, "alice")
    b = device(stack, tmp_path, embedder, bob, "bob")
    shared = a.store.add("semantic", "The staging database password rotates every Monday")
    a.store.update(shared.id, shared=True, team_id=TEAM)
    a.store.add("semantic", "My staging database notes are private")
    assert a.sync_once().error is None and b.sync_once().error is None
    assert contents(b) == {}  # only the user's own rows are pulled
    found = [r["content"] for r in b.search_team("staging database")]
    assert found == ["The staging database password rotates every Monday"]


def test_server_errors_timeouts_and_restarts_lose_and_duplicate_nothing(stack, tmp_path, embedder):
    user = str(uuid.uuid4())
    a = device(stack, tmp_path, embedder, user, "flaky", timeout=1.0)
    for i in range(5):
        a.store.add("episodic", f"turn {i} about the budget", speaker="user")

    stack.proxy.fail_next(1, status=503)  # the push is refused
    status = a.sync_once()
    assert "cannot be reached" in status.error and status.pending == 5 and status.retry_in == 5.0
    assert server_rows(stack, user) == []

    stack.proxy.delay_next(3.0)  # the push lands, but its answer comes too late
    status = a.sync_once()
    assert status.error and status.pending == 5 and status.retry_in == 10.0
    assert len(server_rows(stack, user)) == 5

    stack.stop_postgrest()  # the server goes away mid-conversation
    a.store.add("semantic", "The budget is forty thousand")
    assert a.sync_once().error and a.status.pending == 6
    stack.start_postgrest()
    status = a.sync_once()
    assert status.error is None and status.pending == 0 and status.retry_in == 0
    rows = server_rows(stack, user)
    assert len(rows) == 6 and len({r[0] for r in rows}) == 6  # nothing twice


def test_an_expired_sign_in_says_so(stack, tmp_path, embedder):
    user = str(uuid.uuid4())
    store = MemoryStore(tmp_path / "expired.db", embedder=embedder)
    store.add("semantic", "something to push")
    client = user_client(stack, user, token=stack.user_token(user, expires_in=-60))
    status = SyncEngine(store, client, user, "old").sync_once()
    assert "Sign in again" in status.error and status.pending == 1


def test_team_memories_join_the_persona_when_team_recall_is_on(stack, tmp_path, embedder,
                                                                tiny_engine):
    from arcus_desktop.memory import context

    alice, bob = str(uuid.uuid4()), str(uuid.uuid4())
    team = str(uuid.uuid4())
    stack.sql("insert into arcus_team_members values (%s, %s), (%s, %s)", team, alice, team, bob)
    a = device(stack, tmp_path, embedder, alice, "alice2")
    b = device(stack, tmp_path, embedder, bob, "bob2")
    fact = a.store.add("semantic", "Customer escalations go to Priya first")
    a.store.update(fact.id, shared=True, team_id=team)
    assert a.sync_once().error is None
    b.store.add("procedural", "I prefer short answers")

    def team_recall(topic, k):
        return [r["content"] for r in b.search_team(topic, k)]

    plain = context.for_topic(b.store, "You are Arcus.", tiny_engine.tokenizer, 200,
                              topic="who handles customer escalations")
    shared = context.for_topic(b.store, "You are Arcus.", tiny_engine.tokenizer, 200,
                               topic="who handles customer escalations", team=team_recall)
    assert "Priya" not in plain.text
    assert "Customer escalations go to Priya first" in shared.text and shared.tokens <= 200


def test_the_outbox_survives_a_restart(stack, tmp_path, embedder):
    user = str(uuid.uuid4())
    path = tmp_path / "restart.db"
    first = MemoryStore(path, embedder=embedder)
    first.add("semantic", "Written while offline")
    first.close()  # the app quits before any sync
    again = MemoryStore(path, embedder=embedder)
    engine = SyncEngine(again, user_client(stack, user), user, "laptop")
    assert engine.status.pending == 1
    assert engine.sync_once().pending == 0
    assert [r[2] for r in server_rows(stack, user)] == ["Written while offline"]


def test_a_pull_of_many_pages_misses_no_row_another_device_edits_meanwhile(
        stack, tmp_path, monkeypatch):
    # Audit: pages were read by offset. An edit pushed between two pages moved a row of
    # page 1 to the end, every later row shifted back one place, and one row was never
    # pulled (the cursor moved past it).
    monkeypatch.setattr(sync_engine, "PAGE", 4)
    user = str(uuid.uuid4())
    a = device(stack, tmp_path, None, user, "laptop")
    b = device(stack, tmp_path, None, user, "desktop")
    for i in range(10):
        a.store.add("episodic", f"turn {i} of an old conversation", speaker="user")
    assert a.sync_once().error is None

    real_apply, pages = replica.apply, []

    def apply_then_laptop_edits(store, changes):
        applied = real_apply(store, changes)
        pages.append([c.id for c in changes])
        if len(pages) == 1:  # the laptop edits a row of the page just read
            a.store.update(changes[0].id, content="turn 0, corrected on the laptop")
            assert a.sync_once().error is None
        return applied

    monkeypatch.setattr(replica, "apply", apply_then_laptop_edits)
    assert b.sync_once().error is None
    assert len(pages) >= 3
    assert set(contents(a)) - set(contents(b)) == set()  # no row skipped
    assert contents(b) == contents(a) and len(contents(b)) == 10
    assert contents(b)[pages[0][0]] == "turn 0, corrected on the laptop"
