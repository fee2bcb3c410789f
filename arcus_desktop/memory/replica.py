"""What sync needs from the store, without knowing about any server: the local changes
waiting to go out, and applying changes that came in. Conflicts are settled by version
(the higher wins; at equal versions the server's copy wins, because the server kept the
other one), and a losing local version is kept in memory_history, never dropped."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .store import KINDS, Memory, MemoryStore, _memory, _SELECT


@dataclass
class Change:
    """One memory as a replica sees it."""

    id: str
    version: int
    deleted: bool = False
    kind: str = "semantic"
    content: str = ""
    importance: float = 0.5
    pinned: bool = False
    shared: bool = False
    team_id: str | None = None
    speaker: str | None = None
    source: str = "sync"
    occurred_at: float = 0.0
    embedding: np.ndarray | None = None
    embedding_model: str | None = None


@dataclass
class Outgoing:
    change: Change
    queued_at: float  # identifies this queue entry: a newer edit re-queues it
    num: int | None = None  # the local row, when the memory still exists


@dataclass
class Applied:
    added: int = 0
    updated: int = 0
    deleted: int = 0
    kept_local: int = 0  # ours is newer: it goes out on the next push
    conflicts: list[str] = field(default_factory=list)  # ids whose local version lost


def outgoing(store: MemoryStore, limit: int = 200) -> list[Outgoing]:
    rows = store.db.read("SELECT memory_id, queued_at FROM sync_outbox ORDER BY queued_at LIMIT ?",
                         (limit,))
    out = []
    for memory_id, queued_at in rows:
        m = store.get(memory_id)
        if m is not None:
            out.append(Outgoing(_change_of(store, m), queued_at, m.num))
            continue
        tomb = store.db.read("SELECT version FROM tombstones WHERE id = ?", (memory_id,))
        version = tomb[0][0] if tomb else 1
        out.append(Outgoing(Change(memory_id, version, deleted=True), queued_at))
    return out


def _change_of(store: MemoryStore, m: Memory) -> Change:
    vec = None
    if store.vectors and m.embedding_model == store.embedder.name:
        blob = store.db.read("SELECT embedding FROM memory_vec WHERE rowid = ?", (m.num,))
        vec = np.frombuffer(blob[0][0], np.float32) if blob else None
    return Change(m.id, m.version, False, m.kind, m.content, m.importance, m.pinned, m.shared,
                  m.team_id, m.speaker, m.source, m.occurred_at, vec,
                  m.embedding_model if vec is not None else None)


def pushed(store: MemoryStore, entries: list[Outgoing]) -> None:
    """Drop these queue entries, unless the memory changed again since they were read."""
    store._write(lambda c: c.executemany(
        "DELETE FROM sync_outbox WHERE memory_id = ? AND queued_at = ?",
        [(e.change.id, e.queued_at) for e in entries]))


def pending_count(store: MemoryStore) -> int:
    return store.db.read("SELECT count(*) FROM sync_outbox")[0][0]


def get_state(store: MemoryStore, key: str) -> str | None:
    rows = store.db.read("SELECT value FROM meta WHERE key = ?", (f"sync:{key}",))
    return rows[0][0] if rows else None


def set_state(store: MemoryStore, key: str, value: str) -> None:
    store._write(lambda c: c.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                                     (f"sync:{key}", value)))


def apply(store: MemoryStore, changes: list[Change]) -> Applied:
    """Apply what the server sent, in one transaction that does not queue itself."""
    result = Applied()
    vectors = {c.id: store.embed_query(c.content) for c in changes
               if not c.deleted and c.content and (c.embedding is None
                                                   or not store.vectors
                                                   or c.embedding_model != store.embedder.name)}

    def run(conn):
        conn.execute("INSERT OR IGNORE INTO sync_applying VALUES (1)")
        for change in changes:
            _apply_one(store, conn, change, vectors.get(change.id), result)
        conn.execute("DELETE FROM sync_applying")

    store._write(run)
    store._speakers = None  # the server may have sent turns of new speakers
    return result


def _apply_one(store, conn, ch: Change, vec, result: Applied) -> None:
    row = conn.execute(f"{_SELECT} WHERE id = ?", (ch.id,)).fetchone()
    local = _memory(row) if row else None
    queued = conn.execute("SELECT 1 FROM sync_outbox WHERE memory_id = ?", (ch.id,)).fetchone()
    if local is None:
        tomb = conn.execute("SELECT version FROM tombstones WHERE id = ?", (ch.id,)).fetchone()
        if ch.deleted or (tomb and queued and tomb[0] > ch.version):
            result.kept_local += 0 if ch.deleted else 1
            return
        if tomb and queued:  # deleted here, but the server has a newer version: it wins
            result.conflicts.append(ch.id)
            conn.execute("DELETE FROM sync_outbox WHERE memory_id = ?", (ch.id,))
        _insert(store, conn, ch, vec)
        result.added += 1
        return
    if ch.version < local.version or (ch.version == local.version and not queued):
        result.kept_local += ch.version < local.version
        return
    if queued:  # our unpushed version lost: keep it where the user can find it
        _keep_history(conn, local, "conflict")
        result.conflicts.append(ch.id)
        conn.execute("DELETE FROM sync_outbox WHERE memory_id = ?", (ch.id,))
    if ch.deleted:
        store._delete_rows(conn, [local])
        conn.execute("UPDATE tombstones SET version = ? WHERE id = ?", (ch.version, ch.id))
        result.deleted += 1
        return
    conn.execute(
        "UPDATE memories SET kind = ?, content = ?, importance = ?, pinned = ?, shared = ?, "
        "team_id = ?, occurred_at = ?, updated_at = ?, version = ? WHERE num = ?",
        (ch.kind, ch.content, ch.importance, int(ch.pinned), int(ch.shared), ch.team_id,
         ch.occurred_at, time.time(), ch.version, local.num))
    _put_vector(store, conn, local.num, ch, vec)
    result.updated += 1


def _insert(store, conn, ch: Change, vec) -> None:
    if ch.kind not in KINDS:
        return
    now = time.time()
    num = conn.execute(
        "INSERT INTO memories (id, kind, content, speaker, importance, pinned, source, occurred_at,"
        " created_at, updated_at, version, shared, team_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (ch.id, ch.kind, ch.content, ch.speaker, ch.importance, int(ch.pinned), ch.source,
         ch.occurred_at, now, now, ch.version, int(ch.shared), ch.team_id)).lastrowid
    conn.execute("DELETE FROM tombstones WHERE id = ?", (ch.id,))
    _put_vector(store, conn, num, ch, vec)


def _put_vector(store, conn, num: int, ch: Change, vec) -> None:
    use = vec if vec is not None else ch.embedding
    if store.vectors and use is not None:
        store._put_vector(conn, num, ch.kind, use)
    else:  # no vector for the new text: the old one must not answer for it
        store._stale_vector(conn, num)


def _keep_history(conn, m: Memory, reason: str) -> None:
    conn.execute("INSERT INTO memory_history VALUES (?, ?, ?, ?, ?, ?)",
                 (m.id, m.version, m.kind, m.content, time.time(), reason))


def history(store: MemoryStore, memory_id: str) -> list[tuple[int, str, str]]:
    """Versions of a memory that lost a conflict: (version, content, reason)."""
    return store.db.read("SELECT version, content, reason FROM memory_history "
                         "WHERE memory_id = ? ORDER BY replaced_at", (memory_id,))
