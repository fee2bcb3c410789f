"""Push and pull memories between the local store and a team's Supabase project.

Push: the outbox as idempotent upserts (the server drops versions older than its own).
Pull: the user's rows changed since a server-time cursor, with a few seconds of overlap
because commits land out of order. Errors leave the outbox as it is, so the next try
resumes; the caller waits `status.retry_in` seconds before it (doubling, up to 15 min)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np

from ..core.errors import ArcusError, NetworkError
from ..memory import replica
from ..memory.store import MemoryStore

PAGE = 200
OVERLAP = timedelta(seconds=5)
SERVER_MODEL = "wordllama-l2_supercat-256"  # the schema's vector(256) column
MAX_RETRY_S = 15 * 60


class SyncAuthError(ArcusError):
    pass


@dataclass
class SyncStatus:
    last_sync: float | None = None  # when the last full sync ended
    pending: int = 0  # local changes not on the server yet
    error: str | None = None  # what went wrong last time, for the user
    retry_in: float = 0.0  # seconds to wait before the next try
    conflicts: int = 0  # local versions kept as history by the last sync


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat()


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def to_row(ch: replica.Change, device_id: str) -> dict:
    row = {"id": str(uuid.UUID(ch.id)), "version": ch.version, "device_id": device_id}
    if ch.deleted:  # a tombstone: the row stays, its text goes
        return row | {"deleted_at": _iso(time.time()), "content": "", "kind": "semantic",
                      "occurred_at": _iso(time.time()), "shared": False, "team_id": None,
                      "importance": 0.5, "metadata": {}, "embedding": None,
                      "embedding_model": None}
    vec = ch.embedding if ch.embedding_model == SERVER_MODEL else None
    return row | {
        "kind": ch.kind, "content": ch.content, "importance": ch.importance,
        "shared": ch.shared, "team_id": ch.team_id, "deleted_at": None,
        "occurred_at": _iso(ch.occurred_at),
        "metadata": {"pinned": ch.pinned, "speaker": ch.speaker, "source": ch.source},
        "embedding": None if vec is None else "[" + ",".join(f"{x:.6g}" for x in vec) + "]",
        "embedding_model": SERVER_MODEL if vec is not None else None,
    }


def from_row(row: dict) -> replica.Change:
    meta = row.get("metadata") or {}
    vec = row.get("embedding")
    if isinstance(vec, str):
        vec = np.array([float(x) for x in vec.strip("[]").split(",")], np.float32)
    return replica.Change(
        uuid.UUID(row["id"]).hex, int(row["version"]), row.get("deleted_at") is not None,
        row["kind"], row["content"], float(row["importance"]), bool(meta.get("pinned")),
        bool(row["shared"]), row.get("team_id"), meta.get("speaker"),
        meta.get("source") or "sync", _ts(row["occurred_at"]), vec, row.get("embedding_model"))


class SyncEngine:
    """One user's sync. `client` is a supabase-py client acting as that user."""

    def __init__(self, store: MemoryStore, client, user_id: str, device_id: str) -> None:
        self.store, self.client, self.user_id, self.device_id = store, client, user_id, device_id
        self.status = SyncStatus(pending=replica.pending_count(store))
        self._failures = 0

    def push(self) -> int:
        sent = 0
        while batch := replica.outgoing(self.store, PAGE):
            rows = [to_row(e.change, self.device_id) for e in batch]
            written = self.client.table("memories").upsert(rows, on_conflict="id").execute().data
            done = {uuid.UUID(r["id"]).hex for r in written}
            # Versions the server dropped (it has a newer one) stay queued: the pull that
            # follows settles them.
            replica.pushed(self.store, [e for e in batch if e.change.id in done])
            sent += len(done)
            if len(done) < len(batch):
                break
        return sent

    def pull(self) -> replica.Applied:
        """Rows changed since the cursor, in keyset pages on (updated_at, id). Offset pages
        lost a row whenever another device edited one already read: the edited row moved
        to the end and every later row shifted back onto the page just read."""
        cursor = replica.get_state(self.store, "cursor")
        total = replica.Applied()
        last = None  # (updated_at, id) of the last row read in this pull
        while True:
            query = self.client.table("memories").select("*").eq("user_id", self.user_id)
            if last:
                query = query.or_(_after(*last))
            elif cursor:
                query = query.gte("updated_at", _iso(_ts(cursor) - OVERLAP.total_seconds()))
            page = query.order("updated_at").order("id").limit(PAGE).execute().data
            if page:
                got = replica.apply(self.store, [from_row(r) for r in page])
                for name in ("added", "updated", "deleted", "kept_local"):
                    setattr(total, name, getattr(total, name) + getattr(got, name))
                total.conflicts += got.conflicts
                last = (page[-1]["updated_at"], page[-1]["id"])
            if len(page) < PAGE:
                break
        if last:
            replica.set_state(self.store, "cursor", last[0])
        return total

    def search_team(self, text: str, k: int = 5) -> list[dict]:
        """The nearest memories this user may read on the server (its own and its teams'
        shared ones), for recall to consider alongside the local store."""
        vec = self.store.embed_query(text)
        if vec is None or self.store.embedder.name != SERVER_MODEL:
            return []
        query = "[" + ",".join(f"{x:.6g}" for x in vec) + "]"
        return self.client.rpc("match_memories", {"query_embedding": query, "match_count": k,
                                                  "include_shared": True}).execute().data

    def sync_once(self) -> SyncStatus:
        """Push, pull, push what the pull left queued. Never raises for server trouble:
        the status says what happened and when to try again."""
        try:
            self.push()
            applied = self.pull()
            self.push()
        except Exception as e:  # any failure mid-sync: nothing is lost, try again later
            self._failures += 1
            self.status.error = _explain(e)
            self.status.retry_in = min(MAX_RETRY_S, 5.0 * 2 ** (self._failures - 1))
            if isinstance(e, SyncAuthError):
                self.status.retry_in = MAX_RETRY_S
        else:
            self._failures = 0
            self.status.error = None
            self.status.retry_in = 0.0
            self.status.last_sync = time.time()
            self.status.conflicts = len(applied.conflicts)
        self.status.pending = replica.pending_count(self.store)
        return self.status


def _after(updated_at: str, row_id: str) -> str:
    """A PostgREST filter for rows past (updated_at, id). The server's own timestamp text
    is sent back unchanged (a float would round it), quoted for its colons and dots."""
    stamp = '"' + updated_at + '"'
    return f"updated_at.gt.{stamp},and(updated_at.eq.{stamp},id.gt.{row_id})"


def _explain(e: Exception) -> str:
    code = str(getattr(e, "code", "") or "")
    text = str(e)
    if code in ("401", "PGRST301", "PGRST302") or "JWT" in text:
        return SyncAuthError("The sync sign-in has expired.", "Sign in again in Settings → Sync."
                             ).user_text()
    if code.startswith("5") or "Connect" in type(e).__name__ or "Timeout" in type(e).__name__:
        return NetworkError("The sync server cannot be reached right now.",
                            "Changes stay on this computer and go out when it is back.").user_text()
    return f"Sync failed ({type(e).__name__}: {text[:200]}). Changes stay on this computer."
