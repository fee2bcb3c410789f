"""The GUI's sync service against the real stack (PostgreSQL + PostgREST, supabase-py):
it syncs at start, on demand and after failures, off the GUI thread, and says how it
stands. Sign-in goes through the stack's AuthStandIn (no Supabase Auth here)."""

from __future__ import annotations

import pytest

from arcus_desktop.bridge import sync_service
from arcus_desktop.memory.store import MemoryStore
from arcus_desktop.settings import sync as sync_settings
from arcus_desktop.sync import account
from arcus_desktop.sync.engine import SyncStatus
from arcus_desktop.sync.schema import schema_sql


WAIT_MS = 20_000


@pytest.fixture
def stack(supabase_stack):
    return supabase_stack


@pytest.fixture
def signed_in(stack, os_keyring):
    email = f"user{len(stack.auth.users)}@northwind.test"
    user_id = stack.auth.add_user(email, "pw")
    account.sign_in(account.connect(stack.url, stack.anon_key), email, "pw")
    return user_id


@pytest.fixture
def memories(tmp_path, embedder):
    store = MemoryStore(tmp_path / "memory.db", embedder=embedder)
    yield store
    store.close()


def test_syncs_at_start_and_on_demand(qtbot, stack, signed_in, memories):
    memories.add("semantic", "The offsite is in Porto")
    settings = sync_settings.SyncSettings(enabled=True, url=stack.url, anon_key=stack.anon_key)
    service = sync_service.from_settings(settings, memories.path)
    try:
        # The worker's signal is delivered by this thread's event loop, which only runs
        # inside the wait: it cannot be missed.
        with qtbot.waitSignal(service.status_changed, timeout=WAIT_MS) as first:
            pass
        assert first.args[0].error is None and first.args[0].pending == 0
        memories.add("semantic", "The offsite moved to Lisbon")
        with qtbot.waitSignal(service.status_changed, timeout=WAIT_MS) as again:
            service.sync_now()
        assert again.args[0].pending == 0
        rows = stack.sql("select content from memories where user_id = %s order by content",
                         signed_in)
        assert [r[0] for r in rows] == ["The offsite is in Porto", "The offsite moved to Lisbon"]
        assert sync_service.describe(again.args[0]).startswith("Sync: up to date")
    finally:
        service.shutdown()


def test_a_failure_is_reported_and_retried(qtbot, stack, signed_in, memories):
    memories.add("semantic", "Something to send")
    stack.proxy.fail_next(1, status=503)
    settings = sync_settings.SyncSettings(enabled=True, url=stack.url, anon_key=stack.anon_key)
    service = sync_service.from_settings(settings, memories.path)
    try:
        with qtbot.waitSignal(service.status_changed, timeout=WAIT_MS) as failed:
            pass
        status = failed.args[0]
        assert status.error and status.pending == 1 and status.retry_in == 5.0
        assert "1 changes waiting" in sync_service.describe(status)
        with qtbot.waitSignal(service.status_changed, timeout=WAIT_MS) as ok:
            service.sync_now()
        assert ok.args[0].error is None and ok.args[0].pending == 0
    finally:
        service.shutdown()
        stack.proxy.clear_faults()


def test_sync_that_is_off_or_signed_out(qtbot, stack, memories, os_keyring):
    off = sync_settings.SyncSettings(enabled=False, url=stack.url, anon_key=stack.anon_key)
    assert sync_service.from_settings(off, memories.path) is None
    on = sync_settings.SyncSettings(enabled=True, url=stack.url, anon_key=stack.anon_key)
    service = sync_service.from_settings(on, memories.path)
    with qtbot.waitSignal(service.status_changed, timeout=WAIT_MS) as told:
        pass
    assert "nobody is signed in" in told.args[0].error
    service.shutdown()


def test_settings_round_trip_and_a_stable_device_id():
    first = sync_settings.load()
    assert not first.enabled and first.device_id
    first.url, first.enabled = "https://example.supabase.co", True
    sync_settings.save(first)
    again = sync_settings.load()
    assert again == first


def test_describe_in_words():
    assert sync_service.describe(None) == "Sync: starting"
    assert sync_service.describe(SyncStatus(last_sync=1000.0), now=1030.0) == "Sync: up to date, just now"
    assert sync_service.describe(SyncStatus(last_sync=1000.0, pending=2), now=1300.0) == (
        "Sync: up to date, 5 min ago, 2 changes waiting")


def test_the_status_window_and_tray_show_the_sync_state(qtbot):
    from arcus_desktop.ui.app import ArcusApp

    app = ArcusApp(engine_factory=None, tray=True)
    qtbot.addWidget(app.window)
    app.show_sync(SyncStatus(error="The sync server cannot be reached right now.", pending=3))
    assert app.window.sync_line.text() == app.tray.icon.toolTip().split("\n")[1]
    assert "3 changes waiting" in app.tray.icon.toolTip()
    app.tray.hide()
