"""Append-only, named schema migrations. Never edit one that has shipped: add the next."""

from __future__ import annotations

import sqlite3
import time

# The turn said just before `new` in its conversation, for spoken turns only.
_CONTEXT = """coalesce((SELECT p.content FROM memories p
    WHERE new.kind = 'episodic' AND p.conversation_id = new.conversation_id AND p.kind = 'episodic'
      AND p.num <> new.num AND (p.occurred_at < new.occurred_at
           OR (p.occurred_at = new.occurred_at AND p.num < new.num))
    ORDER BY p.occurred_at DESC, p.num DESC LIMIT 1), '')"""

MIGRATIONS: list[tuple[str, str]] = [
    ("0001_memories", """
CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    started_at REAL NOT NULL,
    ended_at REAL,
    title TEXT NOT NULL DEFAULT '',
    persona TEXT NOT NULL DEFAULT '',
    recording_path TEXT
);
-- num is the stable integer key shared with the FTS5 and vec0 tables (a plain rowid
-- could be renumbered by VACUUM); id is the globally unique id that sync will use.
CREATE TABLE memories (
    num INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('episodic', 'semantic', 'procedural')),
    content TEXT NOT NULL,
    speaker TEXT,
    conversation_id TEXT REFERENCES conversations(id) ON DELETE CASCADE,
    audio_path TEXT,
    audio_offset REAL,
    audio_duration REAL,
    importance REAL NOT NULL DEFAULT 0.5,
    pinned INTEGER NOT NULL DEFAULT 0,
    source TEXT NOT NULL,
    embedding_model TEXT,
    occurred_at REAL NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    version INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX memories_kind_time ON memories (kind, occurred_at);
CREATE INDEX memories_conversation ON memories (conversation_id, occurred_at);
CREATE INDEX memories_unembedded ON memories (embedding_model);
CREATE VIRTUAL TABLE memories_fts USING fts5 (
    content, content='memories', content_rowid='num', tokenize='porter unicode61');
CREATE TRIGGER memories_fts_insert AFTER INSERT ON memories BEGIN
    INSERT INTO memories_fts (rowid, content) VALUES (new.num, new.content);
END;
CREATE TRIGGER memories_fts_delete AFTER DELETE ON memories BEGIN
    INSERT INTO memories_fts (memories_fts, rowid, content) VALUES ('delete', old.num, old.content);
END;
CREATE TRIGGER memories_fts_update AFTER UPDATE OF content ON memories BEGIN
    INSERT INTO memories_fts (memories_fts, rowid, content) VALUES ('delete', old.num, old.content);
    INSERT INTO memories_fts (rowid, content) VALUES (new.num, new.content);
END;
-- What was deleted, without its content, so a later sync can delete it elsewhere too.
CREATE TABLE tombstones (id TEXT PRIMARY KEY, deleted_at REAL NOT NULL);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""),
    ("0002_sync", """
ALTER TABLE memories ADD COLUMN shared INTEGER NOT NULL DEFAULT 0;
ALTER TABLE memories ADD COLUMN team_id TEXT;
ALTER TABLE tombstones ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
-- Local changes not yet pushed: one entry per memory, whatever happened to it.
CREATE TABLE sync_outbox (memory_id TEXT PRIMARY KEY, queued_at REAL NOT NULL);
-- Versions that lost a conflict, kept rather than lost.
CREATE TABLE memory_history (
    memory_id TEXT NOT NULL, version INTEGER NOT NULL, kind TEXT NOT NULL,
    content TEXT NOT NULL, replaced_at REAL NOT NULL, reason TEXT NOT NULL);
CREATE INDEX memory_history_memory ON memory_history (memory_id);
-- While a sync applies what the server sent, this table has a row (inside that
-- transaction only), so the triggers below do not queue the server's own changes.
CREATE TABLE sync_applying (flag INTEGER PRIMARY KEY);
CREATE TRIGGER sync_queue_insert AFTER INSERT ON memories
    WHEN NOT EXISTS (SELECT 1 FROM sync_applying) BEGIN
    INSERT OR REPLACE INTO sync_outbox VALUES (new.id, (julianday('now') - 2440587.5) * 86400.0);
END;
CREATE TRIGGER sync_queue_update AFTER UPDATE OF content, kind, importance, pinned, shared,
    team_id ON memories WHEN NOT EXISTS (SELECT 1 FROM sync_applying) BEGIN
    INSERT OR REPLACE INTO sync_outbox VALUES (new.id, (julianday('now') - 2440587.5) * 86400.0);
END;
CREATE TRIGGER sync_queue_delete AFTER DELETE ON memories
    WHEN NOT EXISTS (SELECT 1 FROM sync_applying) BEGIN
    INSERT OR REPLACE INTO sync_outbox VALUES (old.id, (julianday('now') - 2440587.5) * 86400.0);
END;
"""),
    # The word index gets two more fields: who said it (questions name the person) and,
    # for a spoken turn, the turn said just before it in the same conversation (an answer
    # such as "about three months" says what it is about only through the question before
    # it). It keeps its own copy of the text, since the context is not a column of
    # memories. Weights are set by the store (store.FIELD_WEIGHTS).
    ("0003_fts_fields", """
DROP TRIGGER memories_fts_insert;
DROP TRIGGER memories_fts_delete;
DROP TRIGGER memories_fts_update;
DROP TABLE memories_fts;
CREATE VIRTUAL TABLE memories_fts USING fts5 (
    content, speaker, context, tokenize='porter unicode61');
CREATE TRIGGER memories_fts_insert AFTER INSERT ON memories BEGIN
    INSERT INTO memories_fts (rowid, content, speaker, context) VALUES (
        new.num, new.content, coalesce(new.speaker, ''), """ + _CONTEXT + """);
END;
CREATE TRIGGER memories_fts_delete AFTER DELETE ON memories BEGIN
    DELETE FROM memories_fts WHERE rowid = old.num;
END;
CREATE TRIGGER memories_fts_update AFTER UPDATE OF content, speaker, kind ON memories BEGIN
    DELETE FROM memories_fts WHERE rowid = old.num;
    INSERT INTO memories_fts (rowid, content, speaker, context) VALUES (
        new.num, new.content, coalesce(new.speaker, ''), """ + _CONTEXT + """);
END;
INSERT INTO memories_fts (rowid, content, speaker, context)
    SELECT new.num, new.content, coalesce(new.speaker, ''), """ + _CONTEXT + """
    FROM memories AS new;
"""),
]


def apply(conn) -> list[str]:
    """Apply the migrations this database lacks, each in its own transaction. Whether one
    is done is read again inside that transaction: two connections opening a new file at
    once would otherwise both run it ("table already exists")."""
    conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                 "(name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
    done = {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
    applied = []
    for name, sql in MIGRATIONS:
        if name in done:  # (the common case, without taking the write lock)
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            if not conn.execute("SELECT 1 FROM schema_migrations WHERE name = ?",
                                (name,)).fetchone():
                for statement in _statements(sql):
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (name, time.time()))
                applied.append(name)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return applied


def _statements(script: str) -> list[str]:
    """A script's statements one by one (executescript would commit the transaction first)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    if current.strip():  # a last statement without its semicolon is still run
        statements.append(current.strip())
    return statements
