"""Signing in to the sync server and staying signed in across restarts, with the session
in the password store. Supabase Auth itself cannot run here: the stack's AuthStandIn
answers its endpoints (tests/supabase_stack.py). The password store (gnome-keyring's
Secret Service), supabase-py, PostgREST and PostgreSQL are real."""

from __future__ import annotations

import pytest

from arcus_desktop.memory.store import MemoryStore
from arcus_desktop.sync import account
from arcus_desktop.sync.engine import SyncEngine
from arcus_desktop.sync.schema import schema_sql

from ..secret_service import saved_names



@pytest.fixture
def stack(supabase_stack):
    return supabase_stack


@pytest.fixture
def store_keyring(os_keyring):
    return os_keyring


def test_sign_in_survives_a_restart_and_signing_out_keeps_local_memories(
        stack, store_keyring, tmp_path, embedder):
    user_id = stack.auth.add_user("dana@northwind.test", "correct horse")
    client = account.connect(stack.url, stack.anon_key)
    assert account.signed_in_user(client) is None
    assert account.sign_in(client, "dana@northwind.test", "correct horse") == user_id
    assert any(n.startswith("supabase:") for n in saved_names(store_keyring))  # not in a file

    memories = MemoryStore(tmp_path / "m.db", embedder=embedder)
    memories.add("semantic", "Dana leads the Tideline team")
    assert SyncEngine(memories, client, user_id, "laptop").sync_once().error is None

    restarted = account.connect(stack.url, stack.anon_key)  # the app starts again
    assert account.signed_in_user(restarted) == user_id
    rows = restarted.table("memories").select("content").execute().data
    assert [r["content"] for r in rows] == ["Dana leads the Tideline team"]

    account.sign_out(restarted)
    assert not any(n.startswith("supabase:") for n in saved_names(store_keyring))
    assert account.signed_in_user(account.connect(stack.url, stack.anon_key)) is None
    assert [m.content for m in memories.list()] == ["Dana leads the Tideline team"]


def test_an_expired_session_is_refreshed(stack, store_keyring):
    user_id = stack.auth.add_user("sam@northwind.test", "pw")
    stack.auth.access_ttl = 1  # already inside supabase-py's refresh margin
    try:
        client = account.connect(stack.url, stack.anon_key)
        account.sign_in(client, "sam@northwind.test", "pw")
        again = account.connect(stack.url, stack.anon_key)
        assert account.signed_in_user(again) == user_id
        assert "token:refresh_token" in stack.auth.calls
    finally:
        stack.auth.access_ttl = 3600


def test_one_time_code_sign_in(stack, store_keyring):
    user_id = stack.auth.add_user("ines@northwind.test", "unused")
    client = account.connect(stack.url, stack.anon_key)
    account.send_code(client, "ines@northwind.test")
    code = stack.auth.codes["ines@northwind.test"]  # what the email would carry
    with pytest.raises(account.SyncSignInError):
        account.sign_in_with_code(client, "ines@northwind.test", "000000" if code != "000000" else "111111")
    account.send_code(client, "ines@northwind.test")
    code = stack.auth.codes["ines@northwind.test"]
    assert account.sign_in_with_code(client, "ines@northwind.test", f" {code} ") == user_id


def test_wrong_password_and_unreachable_server_say_what_to_do(stack, store_keyring):
    stack.auth.add_user("lee@northwind.test", "right")
    client = account.connect(stack.url, stack.anon_key)
    with pytest.raises(account.SyncSignInError, match="not accepted"):
        account.sign_in(client, "lee@northwind.test", "wrong")
    offline = account.connect("http://127.0.0.1:9", stack.anon_key)
    with pytest.raises(Exception, match="cannot be reached") as e:
        account.sign_in(offline, "lee@northwind.test", "right")
    assert "connection" in e.value.hint


def test_a_password_is_never_sent_in_clear_beyond_this_computer(stack, store_keyring):
    # 0.0.0.0 is not loopback, yet reaches the stack on this computer (issue 15).
    stack.auth.add_user("lee@northwind.test", "right")
    port = stack.url.rsplit(":", 1)[1]
    calls = len(stack.auth.calls)
    with pytest.raises(account.ArcusError) as e:
        client = account.connect(f"http://0.0.0.0:{port}", stack.anon_key)
        account.sign_in(client, "lee@northwind.test", "right")
    assert "not encrypted" in e.value.message and "https://" in e.value.hint
    assert len(stack.auth.calls) == calls  # nothing reached the server
