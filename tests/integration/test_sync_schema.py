"""The shipped Supabase schema (arcus_desktop/sync/schema.sql) on a real PostgreSQL +
pgvector behind a real PostgREST, through supabase-py unmodified: who sees what, what
nobody can do, and how the server settles concurrent versions."""

from __future__ import annotations

import uuid

import pytest
from postgrest.exceptions import APIError
from supabase import ClientOptions, create_client

from arcus_desktop.sync.schema import schema_sql



TEAM, OTHER_TEAM = uuid.uuid4(), uuid.uuid4()
ALICE, BOB, CAROL = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()  # Alice and Bob share TEAM


@pytest.fixture(scope="module")
def stack(supabase_stack):
    supabase_stack.apply_sql(schema_sql())  # a team may apply it twice
    supabase_stack.sql("insert into arcus_team_members values (%s, %s), (%s, %s), (%s, %s)",
                       TEAM, ALICE, TEAM, BOB, OTHER_TEAM, CAROL)
    return supabase_stack


def client(stack, user=None):
    headers = {"Authorization": f"Bearer {stack.user_token(user)}"} if user else {}
    return create_client(stack.url, stack.anon_key, ClientOptions(headers=headers))


def memory(**fields) -> dict:
    row = {"id": str(uuid.uuid4()), "kind": "semantic", "content": "a fact", "shared": False,
           "team_id": None, "deleted_at": None, "importance": 0.5,
           "occurred_at": "2026-11-20T10:00:00Z", "version": 1,
           "embedding": "[" + ",".join(["0.0625"] * 256) + "]",
           "embedding_model": "wordllama-l2_supercat-256"}
    row.update(fields)
    return row


def ids(rows) -> set[str]:
    return {r["id"] for r in rows}


def test_owners_see_their_rows_teammates_see_only_shared_ones(stack):
    alice = client(stack, ALICE)
    private = memory(content="Alice's private note", team_id=str(TEAM))
    shared = memory(content="Team fact: launch on Nov 12", team_id=str(TEAM), shared=True)
    alice.table("memories").upsert([private, shared]).execute()
    assert ids(alice.table("memories").select("id").execute().data) >= {private["id"], shared["id"]}
    bob = ids(client(stack, BOB).table("memories").select("id").execute().data)
    assert shared["id"] in bob and private["id"] not in bob
    carol = ids(client(stack, CAROL).table("memories").select("id").execute().data)
    assert not carol & {private["id"], shared["id"]}
    row = alice.table("memories").select("user_id").eq("id", private["id"]).execute().data[0]
    assert row["user_id"] == str(ALICE)  # stamped from the token, not the client


def test_an_anonymous_key_sees_and_writes_nothing(stack):
    client(stack, ALICE).table("memories").upsert(memory()).execute()
    anon = client(stack)
    with pytest.raises(APIError):
        anon.table("memories").select("id").execute()
    with pytest.raises(APIError):
        anon.table("memories").insert(memory()).execute()
    with pytest.raises(APIError):
        anon.rpc("match_memories", {"query_embedding": memory()["embedding"]}).execute()


def test_nobody_deletes_through_the_api_and_rows_never_change_hands(stack):
    alice, bob = client(stack, ALICE), client(stack, BOB)
    row = memory(content="keep me")
    alice.table("memories").upsert(row).execute()
    with pytest.raises(APIError):
        alice.table("memories").delete().eq("id", row["id"]).execute()
    # Bob cannot take Alice's row over by upserting its id.
    with pytest.raises(APIError):
        bob.table("memories").upsert(memory(id=row["id"], content="mine now", version=9)).execute()
    assert stack.sql("select content, user_id from memories where id = %s", row["id"]) == [
        ("keep me", ALICE)]
    # A tombstone is an update: deleted_at set, text cleared.
    alice.table("memories").upsert(memory(id=row["id"], content="", version=2,
                                          deleted_at="2026-11-24T09:00:00Z")).execute()
    assert stack.sql("select content, deleted_at is not null from memories where id = %s",
                     row["id"]) == [("", True)]


def test_the_server_stamps_time_and_drops_stale_versions(stack):
    alice = client(stack, ALICE)
    row = memory(content="version 3", version=3)
    alice.table("memories").upsert(row).execute()
    first = stack.sql("select updated_at from memories where id = %s", row["id"])[0][0]
    stale = alice.table("memories").upsert(memory(id=row["id"], content="version 2",
                                                  version=2)).execute()
    assert stale.data == []  # dropped: nothing written
    newer = alice.table("memories").upsert(memory(id=row["id"], content="version 4", version=4,
                                                  updated_at="2001-01-01T00:00:00Z")).execute()
    assert newer.data[0]["content"] == "version 4"
    content, updated = stack.sql("select content, updated_at from memories where id = %s",
                                 row["id"])[0]
    assert content == "version 4" and updated > first  # server time, not the client's


def test_similarity_search_respects_the_policies(stack):
    near = "[" + ",".join(["1"] + ["0"] * 255) + "]"
    alice, bob, carol = (client(stack, u) for u in (ALICE, BOB, CAROL))
    mine = memory(content="Alice near", embedding=near, team_id=str(TEAM))
    team = memory(content="Team near", embedding=near, team_id=str(TEAM), shared=True)
    alice.table("memories").upsert([mine, team]).execute()
    carol.table("memories").upsert(memory(content="Carol near", embedding=near)).execute()

    def found(c, **args) -> list[str]:
        rows = c.rpc("match_memories", {"query_embedding": near, "match_count": 50, **args}).execute()
        return [r["content"] for r in rows.data if r["content"].endswith("near")]

    assert set(found(alice)) == {"Alice near", "Team near"}
    assert set(found(bob)) == {"Team near"}
    assert found(bob, include_shared=False) == []
    assert set(found(carol)) == {"Carol near"}
    assert found(alice, filter_kind="procedural") == []


def test_print_schema_is_the_shipped_file(capsys):
    from arcus_desktop import cli

    assert cli.main(["sync", "print-schema"]) == 0
    assert capsys.readouterr().out == schema_sql()


def test_the_readme_shows_the_schema_that_ships():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert f"```sql\n{schema_sql()}```" in readme


def test_a_non_member_cannot_write_into_read_or_change_another_team(stack):
    # Issue 15: the write policies checked only the owner, so anyone signed in could put
    # shared rows into any team, and they reached its members' personas.
    alice, bob, carol = (client(stack, u) for u in (ALICE, BOB, CAROL))
    planted = memory(content="Carol: wire the budget to me", team_id=str(TEAM), shared=True)
    with pytest.raises(APIError):
        carol.table("memories").insert(planted).execute()
    with pytest.raises(APIError):
        carol.table("memories").upsert(planted).execute()
    with pytest.raises(APIError):  # unshared, but filed under a team she is not in
        carol.table("memories").insert(memory(team_id=str(TEAM))).execute()
    # Her own row cannot be moved into the team afterwards either.
    own = memory(content="Carol's own note", team_id=str(OTHER_TEAM), shared=True)
    carol.table("memories").insert(own).execute()
    with pytest.raises(APIError):
        carol.table("memories").update({"team_id": str(TEAM), "version": 2}).eq(
            "id", own["id"]).execute()
    with pytest.raises(APIError):
        carol.table("memories").upsert(memory(id=own["id"], content="moved", version=3,
                                              team_id=str(TEAM), shared=True)).execute()
    assert stack.sql("select count(*) from memories where team_id = %s and user_id = %s",
                     TEAM, CAROL) == [(0,)]
    # Nor can she read the team's shared rows, or change them.
    team_row = memory(content="Team secret plan", team_id=str(TEAM), shared=True)
    alice.table("memories").insert(team_row).execute()
    assert carol.table("memories").select("id").eq("id", team_row["id"]).execute().data == []
    near = team_row["embedding"]
    found = carol.rpc("match_memories", {"query_embedding": near, "match_count": 200}).execute()
    assert team_row["id"] not in ids(found.data)
    changed = carol.table("memories").update({"content": "hijacked", "version": 5}).eq(
        "id", team_row["id"]).execute()
    assert changed.data == []
    assert stack.sql("select content from memories where id = %s", team_row["id"]) == [
        ("Team secret plan",)]
    # Members still share with their team, and a tombstone (no team) always goes through.
    shared = memory(content="Bob: standup moved to 10:00", team_id=str(TEAM), shared=True)
    bob.table("memories").insert(shared).execute()
    assert shared["id"] in ids(alice.table("memories").select("id").execute().data)
    bob.table("memories").upsert(memory(id=shared["id"], content="", version=2, shared=False,
                                        team_id=None, deleted_at="2026-11-24T09:00:00Z")).execute()
    assert stack.sql("select content from memories where id = %s", shared["id"]) == [("",)]
