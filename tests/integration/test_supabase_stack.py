"""The Supabase test stack (tests/supabase_stack.py) against supabase-py, unmodified.

Real PostgreSQL + pgvector, real PostgREST, real HTTP over 127.0.0.1; the only stand-in
is the token issuer (JWTs signed with PostgREST's secret instead of GoTrue's).
"""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from postgrest.exceptions import APIError
from supabase import ClientOptions, create_client

from ..supabase_stack import SupabaseStack


SCHEMA = """
create table public.notes (
    id bigint generated always as identity primary key,
    owner uuid not null default auth.uid(),
    body text not null,
    embedding vector(3)
);
alter table public.notes enable row level security;
create policy own_rows on public.notes for all to authenticated
    using (owner = auth.uid()) with check (owner = auth.uid());

create function public.nearest_notes(query vector(3), k int)
    returns table (id bigint, body text, distance float8)
    language sql stable security invoker set search_path = public, extensions
    as $$ select id, body, embedding <=> query from notes order by embedding <=> query limit k $$;
"""


@pytest.fixture(scope="module")
def stack():
    with SupabaseStack() as s:
        s.apply_sql(SCHEMA)
        yield s


@pytest.fixture(autouse=True)
def no_leftover_faults(stack):
    yield
    stack.proxy.clear_faults()


def user_client(stack, user_id, **options):
    client = create_client(stack.url, stack.anon_key, ClientOptions(**options) if options else None)
    client.postgrest.auth(stack.user_token(user_id))
    return client


def test_user_writes_and_reads_own_rows(stack):
    alice = uuid.uuid4()
    client = user_client(stack, alice)

    inserted = client.table("notes").insert({"body": "hello", "embedding": [1, 0, 0]}).execute()
    assert inserted.data[0]["owner"] == str(alice)  # default auth.uid() from the JWT's sub

    rows = client.table("notes").select("body, embedding").execute().data
    assert rows == [{"body": "hello", "embedding": "[1,0,0]"}]


def test_rls_hides_rows_from_other_users_and_anon(stack):
    alice, bob = uuid.uuid4(), uuid.uuid4()
    row = user_client(stack, alice).table("notes").insert({"body": "alice's"}).execute().data[0]

    as_bob = user_client(stack, bob)
    assert as_bob.table("notes").select("*").eq("id", row["id"]).execute().data == []
    # An update RLS blocks is not an error: 200 with no rows.
    assert as_bob.table("notes").update({"body": "mine now"}).eq("id", row["id"]).execute().data == []
    assert stack.sql("select body from notes where id = %s", row["id"]) == [("alice's",)]

    anon = create_client(stack.url, stack.anon_key)
    assert anon.table("notes").select("*").execute().data == []
    with pytest.raises(APIError) as err:
        anon.table("notes").insert({"body": "anonymous"}).execute()
    assert err.value.code == "42501"


def test_user_token_through_client_options_header(stack):
    # The other documented way: the Authorization header survives the client's own
    # auth events, where postgrest.auth() is reset with the postgrest client.
    carol = uuid.uuid4()
    client = create_client(
        stack.url,
        stack.anon_key,
        ClientOptions(headers={"Authorization": f"Bearer {stack.user_token(carol)}"}),
    )
    assert client.table("notes").insert({"body": "c"}).execute().data[0]["owner"] == str(carol)


def test_expired_token_is_rejected(stack):
    client = create_client(stack.url, stack.anon_key)
    client.postgrest.auth(stack.user_token(uuid.uuid4(), expires_in=-60))
    with pytest.raises(APIError) as err:
        client.table("notes").select("*").execute()
    assert err.value.code == "PGRST301"


def test_rpc_vector_search_sees_own_rows_only(stack):
    dave, erin = uuid.uuid4(), uuid.uuid4()
    as_dave = user_client(stack, dave)
    as_dave.table("notes").insert(
        [
            {"body": "x", "embedding": [1, 0, 0]},
            {"body": "y", "embedding": [0, 1, 0]},
            {"body": "xy", "embedding": [1, 1, 0]},
        ]
    ).execute()
    user_client(stack, erin).table("notes").insert({"body": "erin x", "embedding": [1, 0, 0]}).execute()

    hits = as_dave.rpc("nearest_notes", {"query": [1, 0.1, 0], "k": 2}).execute().data
    assert [h["body"] for h in hits] == ["x", "xy"]
    assert hits[0]["distance"] < hits[1]["distance"]


def test_apply_sql_is_visible_to_the_client_at_once(stack):
    stack.apply_sql("alter table public.notes add column tag text")
    client = user_client(stack, uuid.uuid4())
    assert client.table("notes").insert({"body": "t", "tag": "new"}).execute().data[0]["tag"] == "new"


def test_injected_503_then_success(stack):
    client = user_client(stack, uuid.uuid4())
    stack.proxy.fail_next(1, status=503)
    with pytest.raises(APIError) as err:  # writes are not retried by postgrest-py
        client.table("notes").insert({"body": "first try"}).execute()
    assert err.value.code == "503"
    assert client.table("notes").insert({"body": "second try"}).execute().data[0]["body"] == "second try"
    assert [r["body"] for r in client.table("notes").select("body").execute().data] == ["second try"]


def test_reads_are_retried_by_the_client_after_503(stack):
    client = user_client(stack, uuid.uuid4())
    stack.proxy.fail_next(1, status=503)
    before = len(stack.proxy.requests)
    assert client.table("notes").select("*").execute().data == []
    retried = stack.proxy.requests[before:]
    assert [r.headers.get("X-Retry-Count") for r in retried] == [None, "1"]


def test_delayed_response_times_out_after_the_write_landed(stack):
    # httpx.Timeout, not 0.5: postgrest-py truncates a number to whole seconds (0 = no time).
    client = user_client(stack, uuid.uuid4(), postgrest_client_timeout=httpx.Timeout(0.5))
    stack.proxy.delay_next(2.0)
    with pytest.raises(httpx.ReadTimeout):
        client.table("notes").insert({"body": "slow"}).execute()
    assert stack.sql("select count(*) from notes where body = 'slow'") == [(1,)]


@pytest.mark.parametrize("forward", [False, True])
def test_dropped_connection(stack, forward):
    client = user_client(stack, uuid.uuid4())
    body = f"dropped {forward}"
    stack.proxy.drop_next(forward=forward)
    with pytest.raises(httpx.RemoteProtocolError):
        client.table("notes").insert({"body": body}).execute()
    assert stack.sql("select count(*) from notes where body = %s", body) == [(int(forward),)]


def test_postgrest_down_then_back(stack):
    client = user_client(stack, uuid.uuid4())
    stack.stop_postgrest()
    try:
        with pytest.raises(APIError) as err:
            client.table("notes").insert({"body": "while down"}).execute()
        assert err.value.code == "502"
    finally:
        started = time.monotonic()
        stack.start_postgrest()
    assert time.monotonic() - started < 10
    assert client.table("notes").insert({"body": "back"}).execute().data[0]["body"] == "back"
