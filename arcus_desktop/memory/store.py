"""The memory store: conversations and memories in one SQLite file, with their words in
FTS5 and their meaning in sqlite-vec. Every change is one transaction."""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np

from ..core import paths
from ..core.errors import ArcusError
from . import migrations
from .db import Database
from .embedder import Embedder, EmbedderUnavailable, load_embedder
from .vector_index import VectorIndex

KINDS = ("episodic", "semantic", "procedural")
ROLE_LABELS = frozenset({"user", "assistant"})  # the speakers of the app's own turns
MERGE_COSINE = 0.92  # above this two facts say the same thing (if names and numbers agree)
MERGE_JACCARD = 0.75  # the same test on words, for when there are no vectors
COMMON_SHARE = 0.02  # query words in more of the memories than this are left out...
COMMON_MIN_ROWS = 200  # ...once that share is this many rows
# BM25 weight of each field of the word index: the words said, who said them, and the
# turn said just before (migration 0003). Chosen on the tuning half of
# tests/data/memory_eval_long.json (docs/PERFORMANCE.md).
FIELD_WEIGHTS = (1.0, 4.0, 0.3)
# A search reads this much of its query (a pasted page took seconds on the memory thread),
# and sends at most this many distinct words of it to FTS5.
MAX_QUERY_CHARS = 2000
MAX_QUERY_WORDS = 200
_RANK = "bm25({})".format(", ".join(map(str, FIELD_WEIGHTS)))


@dataclass
class Memory:
    id: str
    kind: str
    content: str
    speaker: str | None
    conversation_id: str | None
    audio_path: str | None
    audio_offset: float | None
    audio_duration: float | None
    importance: float
    pinned: bool
    source: str
    embedding_model: str | None
    occurred_at: float
    created_at: float
    updated_at: float
    version: int
    shared: bool = False  # readable by the team when synced
    team_id: str | None = None
    num: int = 0  # local key of the row; not exported


@dataclass
class Conversation:
    id: str
    started_at: float
    ended_at: float | None
    title: str
    persona: str
    recording_path: str | None


_MEMORY_COLUMNS = [f.name for f in fields(Memory)]
_SELECT = f"SELECT {', '.join(_MEMORY_COLUMNS)} FROM memories"
_CONV_COLUMNS = [f.name for f in fields(Conversation)]
_WORD = re.compile(r"[^\W_]+", re.UNICODE)  # the same split as FTS5 unicode61
_DEFAULT_EMBEDDER = object()


class MemoryFileError(ArcusError):
    pass


def _memory(row) -> Memory:
    m = Memory(*row)
    m.pinned, m.shared = bool(m.pinned), bool(m.shared)
    return m


class MemoryStore:
    def __init__(self, path: str | os.PathLike | None = None, embedder=_DEFAULT_EMBEDDER,
                 database: Database | None = None) -> None:
        self.path = Path(path) if path else paths.data_dir() / "memory.db"
        self.db = database or Database(self.path)
        migrations.apply(self.db.conn)
        self.notices = self.db.notices
        self._seen_version = self._data_version()
        if embedder is _DEFAULT_EMBEDDER:
            try:
                embedder = load_embedder()
            except EmbedderUnavailable as e:
                self.notices.append(e.user_text())
                embedder = None
        self.embedder: Embedder | None = None
        self._index: VectorIndex | None = None
        self._index_version = None
        self._index_ops: list = []
        self._common: tuple[int, set[str]] | None = None  # (store size, common words)
        self._speakers: tuple | None = None  # (versions, name word -> speakers)
        self._set_rank()
        self.set_embedder(embedder)

    def _write(self, fn):
        """db.write, then the in-memory index changes the transaction queued (only once
        it has committed, so a rolled-back change never reaches the index)."""
        self._index_ops: list = []
        try:
            result = self.db.write(fn)
        except BaseException:
            self._index_ops = []
            raise
        ops, self._index_ops = self._index_ops, []
        if self._index is not None:
            for op in ops:
                op(self._index)
        return result

    def _set_rank(self) -> None:
        """FTS5 keeps its ranking function in the database: set it to FIELD_WEIGHTS when it
        differs, so `ORDER BY rank` (its fastest path) uses them."""
        current = self.db.read("SELECT v FROM memories_fts_config WHERE k = 'rank'")
        if not current or current[0][0] != _RANK:
            self._write(lambda c: c.execute(
                "INSERT INTO memories_fts (memories_fts, rank) VALUES ('rank', ?)", (_RANK,)))

    # --- vectors -------------------------------------------------------------------------

    @property
    def vectors(self) -> bool:
        return self.embedder is not None and self.db.backend.vectors

    def set_embedder(self, embedder: Embedder | None) -> None:
        """Switch the embedding model. Vectors of another model are dropped at once (they
        cannot be compared with the new ones); `embed_pending` refills them."""
        self.embedder = embedder
        self._index = None
        if not self.vectors:
            return
        current = dict(self.db.read("SELECT key, value FROM meta"))
        if current.get("vector_model") == embedder.name and self._has_vec_table():
            if "prune_vectors" in current:
                self._write(self._prune_vectors)
            return

        def switch(conn):
            conn.execute("DELETE FROM meta WHERE key = 'prune_vectors'")
            conn.execute("DROP TABLE IF EXISTS memory_vec")
            conn.execute(f"CREATE VIRTUAL TABLE memory_vec USING vec0("
                         f"embedding float[{embedder.dim}] distance_metric=cosine, kind text)")
            conn.execute("UPDATE memories SET embedding_model = NULL")
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('vector_model', ?)", (embedder.name,))

        self._write(switch)

    def _has_vec_table(self) -> bool:
        return bool(self.db.read("SELECT 1 FROM sqlite_master WHERE name = 'memory_vec'"))

    def _drop_vector(self, conn, num: int) -> None:
        """A deleted or changed memory's vector goes too. Without sqlite-vec the vec0 table
        cannot be touched ("no such module"): it is pruned when vectors are next on."""
        if not self._has_vec_table():
            return
        if self.db.backend.vectors:
            conn.execute("DELETE FROM memory_vec WHERE rowid = ?", (num,))
        else:
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('prune_vectors', '1')")

    def _stale_vector(self, conn, num: int) -> None:
        """Its text changed and no vector came with it: embed_pending makes a new one."""
        conn.execute("UPDATE memories SET embedding_model = NULL WHERE num = ?", (num,))
        self._drop_vector(conn, num)
        self._index_ops.append(lambda index: index.remove(num))

    def _prune_vectors(self, conn) -> None:
        """Vectors left by deletes and edits made without sqlite-vec."""
        conn.execute("DELETE FROM memory_vec WHERE rowid IN (SELECT v.rowid FROM memory_vec v "
                     "LEFT JOIN memories m ON m.num = v.rowid WHERE m.embedding_model IS NOT ?)",
                     (self.embedder.name,))
        conn.execute("DELETE FROM meta WHERE key = 'prune_vectors'")

    def pending_embeddings(self) -> int:
        if not self.vectors:
            return 0
        return self.db.read("SELECT count(*) FROM memories WHERE embedding_model IS NULL")[0][0]

    def embed_pending(self, batch: int = 256) -> int:
        """Embed up to `batch` memories that have no vector yet; how many were done."""
        if not self.vectors:
            return 0
        embedder = self.embedder

        def fill(conn):
            rows = conn.execute("SELECT num, kind, content FROM memories "
                                "WHERE embedding_model IS NULL LIMIT ?", (batch,)).fetchall()
            if rows:
                vecs = embedder.embed([r[2] for r in rows])
                for (num, kind, _), vec in zip(rows, vecs):
                    self._put_vector(conn, num, kind, vec)
            return len(rows)

        return self._write(fill)

    def _put_vector(self, conn, num: int, kind: str, vec: np.ndarray) -> None:
        vec = np.asarray(vec, np.float32)
        conn.execute("DELETE FROM memory_vec WHERE rowid = ?", (num,))  # vec0 has no upsert
        conn.execute("INSERT INTO memory_vec (rowid, embedding, kind) VALUES (?, ?, ?)",
                     (num, vec.tobytes(), kind))
        occurred_at, speaker, cid = conn.execute(
            "UPDATE memories SET embedding_model = ? WHERE num = ? "
            "RETURNING occurred_at, speaker, conversation_id", (self.embedder.name, num)).fetchone()
        self._index_ops.append(lambda index: index.put(num, kind, occurred_at, vec, speaker, cid))

    def _data_version(self) -> int:
        return self.db.read("PRAGMA data_version")[0][0]

    def changed_elsewhere(self) -> bool:
        """Whether another connection (sync, the command line, another process) committed
        since the last call: SQLite's data_version moves only for their commits."""
        version = self._data_version()
        changed, self._seen_version = version != self._seen_version, version
        return changed

    def _index_now(self) -> VectorIndex | None:
        """The in-memory index, reloaded when another connection (the re-embedding
        worker, another window) has committed since it was built."""
        if not self.vectors:
            return None
        version = self._data_version()
        if self._index is None or version != self._index_version:
            index = VectorIndex(self.embedder.dim)
            # (only rows embedded by this model: one edited without vectors waits for a new one)
            for num, blob, kind, occurred_at, speaker, cid in self.db.read(
                    "SELECT v.rowid, v.embedding, m.kind, m.occurred_at, m.speaker, "
                    "m.conversation_id FROM memory_vec v JOIN memories m ON m.num = v.rowid "
                    "AND m.embedding_model = ?", (self.embedder.name,)):
                index.put(num, kind, occurred_at, np.frombuffer(blob, np.float32), speaker, cid)
            self._index, self._index_version = index, version
        return self._index

    def embed_query(self, text: str) -> np.ndarray | None:
        return self.embedder.embed([text])[0] if self.vectors else None

    # --- conversations -------------------------------------------------------------------

    def start_conversation(self, persona: str = "", recording_path: str | None = None,
                           started_at: float | None = None, conversation_id: str | None = None,
                           title: str = "") -> str:
        cid = conversation_id or uuid.uuid4().hex
        self._write(lambda c: c.execute(
            "INSERT INTO conversations VALUES (?, ?, NULL, ?, ?, ?)",
            (cid, time.time() if started_at is None else started_at, title, persona,
             recording_path)))
        return cid

    def end_conversation(self, cid: str, title: str | None = None,
                         ended_at: float | None = None) -> None:
        self._write(lambda c: c.execute(
            "UPDATE conversations SET ended_at = ?, title = coalesce(?, title) WHERE id = ?",
            (ended_at or time.time(), title, cid)))

    def conversation(self, cid: str) -> Conversation | None:
        rows = self.db.read(f"SELECT {', '.join(_CONV_COLUMNS)} FROM conversations WHERE id = ?",
                            (cid,))
        return Conversation(*rows[0]) if rows else None

    def conversations(self, limit: int = 100) -> list[Conversation]:
        rows = self.db.read(f"SELECT {', '.join(_CONV_COLUMNS)} FROM conversations "
                            "ORDER BY started_at DESC LIMIT ?", (limit,))
        return [Conversation(*r) for r in rows]

    def conversations_recorded(self, recording_path: str | None = None,
                               unfinished: bool = False) -> list[Conversation]:
        """The conversations recorded to `recording_path` (any recording: None), those
        never ended only when `unfinished`, oldest first."""
        where = ["recording_path = ?" if recording_path else "recording_path IS NOT NULL"]
        if unfinished:
            where.append("ended_at IS NULL")
        rows = self.db.read(f"SELECT {', '.join(_CONV_COLUMNS)} FROM conversations "
                            f"WHERE {' AND '.join(where)} ORDER BY started_at",
                            (recording_path,) if recording_path else ())
        return [Conversation(*r) for r in rows]

    def conversation_memories(self, cid: str) -> list[Memory]:
        rows = self.db.read(f"{_SELECT} WHERE conversation_id = ? ORDER BY occurred_at, num",
                            (cid,))
        return [_memory(r) for r in rows]

    # --- memories ------------------------------------------------------------------------

    def add(self, kind: str, content: str, *, speaker: str | None = None,
            conversation_id: str | None = None, audio_path: str | None = None,
            audio_offset: float | None = None, audio_duration: float | None = None,
            importance: float = 0.5, pinned: bool = False, source: str = "user",
            occurred_at: float | None = None, merge: bool | None = None,
            memory_id: str | None = None) -> Memory:
        """Store a memory. Facts and preferences that say what one already says are merged
        into it (newer wording, higher importance) instead of piling up; the wording it
        replaces is kept in memory_history."""
        if kind not in KINDS:
            raise ValueError(f"unknown memory kind {kind!r}")
        content = " ".join(content.split())
        if not content:
            raise ValueError("a memory needs some text")
        now = time.time()
        occurred_at = now if occurred_at is None else occurred_at
        vec = self.embed_query(content)
        merge = kind != "episodic" if merge is None else merge

        def insert(conn):
            twin = self._twin(conn, kind, content, vec) if merge else None
            if twin is not None:
                _keep_merged(conn, twin, content, now)
                conn.execute(
                    "UPDATE memories SET content = ?, importance = max(importance, ?), "
                    "occurred_at = max(occurred_at, ?), updated_at = ?, version = version + 1, "
                    "source = ? WHERE num = ?", (content, importance, occurred_at, now, source, twin))
                num = twin
            else:
                num = conn.execute(
                    "INSERT INTO memories (id, kind, content, speaker, conversation_id, audio_path,"
                    " audio_offset, audio_duration, importance, pinned, source, occurred_at,"
                    " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (memory_id or uuid.uuid4().hex, kind, content, speaker, conversation_id,
                     audio_path, audio_offset, audio_duration, float(importance), int(pinned),
                     source, occurred_at, now, now)).lastrowid
            if vec is not None:
                self._put_vector(conn, num, kind, vec)
            elif num == twin:
                self._stale_vector(conn, num)
            return num

        num = self._write(insert)
        self._learn_speaker(speaker)
        return self._by_num(num)

    def _twin(self, conn, kind: str, content: str, vec) -> int | None:
        if vec is not None and (index := self._index_now()) is not None:
            for num, distance in index.search(vec, 3, kinds=[kind]):
                if 1.0 - distance < MERGE_COSINE:
                    continue
                other = conn.execute("SELECT content FROM memories WHERE num = ?",
                                     (num,)).fetchone()
                if other and same_names_and_numbers(content, other[0]):
                    return num
        words = _words(content)
        query = fts_query(content)
        if not query:
            return None
        query = f"content : ({query})"  # what was said, not who said it or what came before
        rows = conn.execute(
            "SELECT m.num, m.content FROM memories_fts JOIN memories m ON m.num = memories_fts.rowid "
            "WHERE memories_fts MATCH ? AND m.kind = ? ORDER BY rank LIMIT 5", (query, kind)).fetchall()
        for num, other in rows:
            other_words = _words(other)
            if (len(words & other_words) / max(1, len(words | other_words)) >= MERGE_JACCARD
                    and same_names_and_numbers(content, other)):
                return num
        return None

    def _by_num(self, num: int) -> Memory:
        return _memory(self.db.read(f"{_SELECT} WHERE num = ?", (num,))[0])

    def by_nums(self, nums: list[int]) -> dict[int, Memory]:
        if not nums:
            return {}
        marks = ",".join("?" * len(nums))
        return {m.num: m for m in map(_memory, self.db.read(f"{_SELECT} WHERE num IN ({marks})",
                                                             list(nums)))}

    def get(self, memory_id: str) -> Memory | None:
        rows = self.db.read(f"{_SELECT} WHERE id = ?", (memory_id,))
        return _memory(rows[0]) if rows else None

    def update(self, memory_id: str, *, content: str | None = None, kind: str | None = None,
               importance: float | None = None, pinned: bool | None = None,
               shared: bool | None = None, team_id: str | None = None) -> Memory:
        old = self.get(memory_id)
        if old is None:
            raise KeyError(memory_id)
        content = " ".join(content.split()) if content is not None else old.content
        kind = kind or old.kind
        if kind not in KINDS or not content:
            raise ValueError("a memory needs some text and a known kind")
        vec = self.embed_query(content) if (content != old.content or kind != old.kind) else None

        def change(conn):
            conn.execute(
                "UPDATE memories SET content = ?, kind = ?, importance = ?, pinned = ?, "
                "shared = ?, team_id = ?, updated_at = ?, version = version + 1 WHERE num = ?",
                (content, kind, old.importance if importance is None else float(importance),
                 int(old.pinned if pinned is None else pinned),
                 int(old.shared if shared is None else shared),
                 old.team_id if team_id is None else team_id, time.time(), old.num))
            if vec is not None:
                self._put_vector(conn, old.num, kind, vec)
            elif content != old.content or kind != old.kind:
                self._stale_vector(conn, old.num)

        self._write(change)
        return self._by_num(old.num)

    def delete(self, memory_id: str, delete_recording: bool = False) -> bool:
        """Gone for real: the row, its words, its vector; the recording too when asked and
        when no other memory still points at it."""
        old = self.get(memory_id)
        if old is None:
            return False
        self._write(lambda c: self._delete_rows(c, [old]))
        if delete_recording and old.audio_path:
            self._remove_recording_if_unused(old.audio_path)
        return True

    def forget_conversation(self, cid: str, delete_recording: bool = False) -> int:
        conv = self.conversation(cid)
        memories = self.conversation_memories(cid)

        def forget(conn):
            self._delete_rows(conn, memories)
            conn.execute("DELETE FROM conversations WHERE id = ?", (cid,))

        self._write(forget)
        if delete_recording:
            for path in {m.audio_path for m in memories if m.audio_path} | (
                    {conv.recording_path} if conv and conv.recording_path else set()):
                self._remove_recording_if_unused(path)
        return len(memories)

    def _delete_rows(self, conn, memories: list[Memory]) -> None:
        now = time.time()
        self._speakers = None  # a speaker may be gone
        for m in memories:
            self._drop_vector(conn, m.num)
            conn.execute("DELETE FROM memories WHERE num = ?", (m.num,))
            self._index_ops.append(lambda index, num=m.num: index.remove(num))
            conn.execute("INSERT OR REPLACE INTO tombstones (id, deleted_at, version) "
                         "VALUES (?, ?, ?)", (m.id, now, m.version + 1))

    def _remove_recording_if_unused(self, path: str) -> None:
        """Only the app's own recordings are ever deleted: a path that came from an
        imported file must not be able to remove anything else (the database, say)."""
        if not paths.is_own_recording(path):
            return
        target = Path(path).resolve()
        still = self.db.read("SELECT 1 FROM memories WHERE audio_path = ? UNION ALL "
                             "SELECT 1 FROM conversations WHERE recording_path = ? LIMIT 1",
                             (path, path))
        if not still:
            target.unlink(missing_ok=True)

    def list(self, kinds: list[str] | None = None, since: float | None = None,
             until: float | None = None, limit: int = 200, offset: int = 0) -> list[Memory]:
        where, params = filters(kinds, since, until, prefix="")
        rows = self.db.read(f"{_SELECT} {where} ORDER BY pinned DESC, occurred_at DESC, num DESC "
                            "LIMIT ? OFFSET ?", [*params, limit, offset])
        return [_memory(r) for r in rows]

    def count(self) -> int:
        return self.db.read("SELECT count(*) FROM memories")[0][0]

    # --- search primitives (recall.py combines them) -------------------------------------

    def keyword_search(self, query: str, limit: int = 50, kinds=None, since=None,
                       until=None, said_only: bool = False) -> list[tuple[int, float]]:
        """(num, bm25) best first; bm25 is lower for better matches. `said_only`: match
        what was said (and the turn before), not who said it."""
        query = query[:MAX_QUERY_CHARS]
        match = fts_query(query, self._common_words(query))
        if not match:
            return []
        if said_only:
            match = f"{{content context}} : ({match})"
        where, params = filters(kinds, since, until, prefix="m.")
        if not where:  # FTS5 orders by its own rank fastest without a join
            return self.db.read("SELECT rowid, rank FROM memories_fts WHERE memories_fts MATCH ? "
                                "ORDER BY rank LIMIT ?", (match, limit))
        where = where.replace("WHERE", "AND", 1)
        return self.db.read(
            "SELECT m.num, memories_fts.rank AS score FROM memories_fts "
            "JOIN memories m ON m.num = memories_fts.rowid "
            f"WHERE memories_fts MATCH ? {where} ORDER BY score LIMIT ?", [match, *params, limit])

    def _common_words(self, query: str) -> set[str]:
        """Words found in more than COMMON_SHARE of a large store's memories. They add
        little to BM25 (a low idf) but make FTS5 score every row that has them: at 100k
        memories they are most of a keyword search's time. The set is rebuilt when the
        store has grown or shrunk by a tenth since."""
        size = self.db.read("SELECT max(num) FROM memories")[0][0] or 0  # O(1), about the count
        if size * COMMON_SHARE < COMMON_MIN_ROWS:
            return set()
        if self._common is None or abs(size - self._common[0]) > size / 10:
            self.db.conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.memory_words "
                                 "USING fts5vocab(main, 'memories_fts', 'col')")
            rows = self.db.read("SELECT term FROM temp.memory_words WHERE col = 'content' "
                                "AND doc > ?", (size * COMMON_SHARE,))
            self._common = (size, {r[0] for r in rows})
        return self._common[1]

    def vector_search(self, vec: np.ndarray, limit: int = 50, kinds=None, since=None,
                      until=None, speakers=None,
                      neighbours: float = 0.0) -> list[tuple[int, float]]:
        """(num, cosine distance) best first, among memories that have a vector (and were
        said by one of `speakers`, when given); see VectorIndex.search for `neighbours`."""
        index = self._index_now() if vec is not None else None
        if index is None:
            return []
        return index.search(vec, limit, kinds, since, until, speakers, neighbours)

    def speakers_named(self, text: str) -> set[str]:
        """The speakers of this store whose name is a word of `text` ("What did Maya
        adopt?" names Maya). The app's own role labels are not names: "user research"
        is not about the user's turns."""
        version = self._data_version()  # (this connection's own changes keep it current)
        if self._speakers is None or self._speakers[0] != version:
            self._speakers = (version, {})
            for (speaker,) in self.db.read("SELECT DISTINCT speaker FROM memories "
                                           "WHERE speaker IS NOT NULL"):
                self._learn_speaker(speaker)
        names, words = self._speakers[1], _WORD.findall(text[:MAX_QUERY_CHARS].lower())
        return {s for w in words for s in names.get(w, ())}

    def _learn_speaker(self, speaker: str | None) -> None:
        if self._speakers is None or not speaker:
            return
        for w in _WORD.findall(speaker.lower()):
            if len(w) > 1 and w not in STOPWORDS and w not in ROLE_LABELS:
                self._speakers[1].setdefault(w, set()).add(speaker)

    # --- export and import ---------------------------------------------------------------

    def export_json(self, path: str | os.PathLike) -> int:
        memories = self.list(limit=-1)
        data = {"format": "arcus-memories", "version": 1,
                "conversations": [asdict(c) for c in self.conversations(limit=-1)],
                "memories": [{k: v for k, v in asdict(m).items() if k not in ("num", "embedding_model")}
                             for m in memories]}
        path = Path(path)
        tmp = path.with_name(path.name + ".part")
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, path)
        return len(memories)

    def import_json(self, path: str | os.PathLike) -> int:
        """Add what the file has and this store lacks; a memory present in both keeps the
        newer version. Returns how many memories were added or updated."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("format") != "arcus-memories":
                raise ValueError("not an Arcus memories file")
            conversations = [Conversation(**c) for c in data["conversations"]]
            memories = [Memory(**m, embedding_model=None) for m in data["memories"]]
            for m in memories:
                if m.kind not in KINDS or not isinstance(m.content, str) or not m.content.strip():
                    raise ValueError(f"memory {m.id} has no text or an unknown kind")
            # A file may name any path as a recording: keep only the app's own ones.
            conversations = [replace(c, recording_path=_own(c.recording_path)) for c in conversations]
            memories = [replace(m, audio_path=_own(m.audio_path)) for m in memories]
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as e:
            raise MemoryFileError(f"{Path(path).name} cannot be imported ({e}).",
                                  "Choose a file exported by Arcus Desktop.") from e

        self._speakers = None  # the file may bring speakers

        def load(conn):
            for c in conversations:
                conn.execute("INSERT OR IGNORE INTO conversations VALUES (?,?,?,?,?,?)",
                             tuple(getattr(c, k) for k in _CONV_COLUMNS))
            changed = 0
            for m in memories:
                row = conn.execute("SELECT num, updated_at FROM memories WHERE id = ?", (m.id,)).fetchone()
                if row and row[1] >= m.updated_at:
                    continue
                if row:  # replaced by the newer version, which gets its vector again
                    self._drop_vector(conn, row[0])
                    conn.execute("DELETE FROM memories WHERE num = ?", (row[0],))
                    self._index_ops.append(lambda index, num=row[0]: index.remove(num))
                conn.execute(
                    f"INSERT INTO memories ({', '.join(_MEMORY_COLUMNS[:-1])}) "
                    f"VALUES ({','.join('?' * (len(_MEMORY_COLUMNS) - 1))})",
                    tuple(getattr(m, k) for k in _MEMORY_COLUMNS[:-1]))
                changed += 1
            return changed

        try:
            changed = self._write(load)
        except self.db.backend.module.IntegrityError as e:
            raise MemoryFileError(f"{Path(path).name} cannot be imported ({e}).",
                                  "Choose a file exported by Arcus Desktop; nothing was "
                                  "imported.") from e
        while self.embed_pending():
            pass
        return changed

    def maintain(self) -> None:
        """Tidy up after a conversation: one small transaction per turn leaves the word
        index in many small segments, which slows keyword search; merge them."""
        self._write(lambda c: c.execute("INSERT INTO memories_fts (memories_fts) VALUES ('optimize')"))
        self.db.conn.execute("PRAGMA optimize")

    def close(self) -> None:
        self.db.close()


def _keep_merged(conn, num: int, content: str, now: float) -> None:
    """The text a merge replaces goes to memory_history, as a lost sync conflict does:
    a merge of two facts that were not the same must not lose one of them."""
    old = conn.execute("SELECT id, version, kind, content FROM memories WHERE num = ?",
                       (num,)).fetchone()
    if old[3] != content:
        conn.execute("INSERT INTO memory_history VALUES (?, ?, ?, ?, ?, 'merged')",
                     (*old, now))


def same_names_and_numbers(a: str, b: str) -> bool:
    """Whether two texts name the same people, places and numbers. Texts that read alike
    but differ there are different facts ("Anna's birthday is on the third of March",
    "Emma's ..."), never one to merge."""
    return _numbers(a) == _numbers(b) and not (_names(a) - _words(b) or _names(b) - _words(a))


def _words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)}


def _names(text: str) -> set[str]:
    """Capitalised words, also at the start of a sentence ("Emma's birthday ..."): an
    ordinary word there only counts when the other text lacks it."""
    return {w.lower() for w in _WORD.findall(text)
            if w[0].isupper() and w.lower() not in STOPWORDS}


def _numbers(text: str) -> set[str]:
    """Numbers as digits, whether written so ("4th", "2023") or as words ("third")."""
    found = set(re.findall(r"\d+(?:[.,:]\d+)*", text))
    return found | {NUMBER_WORDS[w] for w in _words(text) if w in NUMBER_WORDS}


def _own(path) -> str | None:
    """An imported recording path, if it names a recording the app made."""
    return path if isinstance(path, str) and paths.is_own_recording(path) else None


def fts_query(text: str, common: set[str] = frozenset()) -> str:
    """Raw words as an FTS5 query: each quoted (so apostrophes and operators in what the
    user said are not syntax), joined with OR, stop words and `common` words left out
    (unless nothing else is left), the first MAX_QUERY_WORDS of them."""
    words = list(dict.fromkeys(w.lower() for w in _WORD.findall(text)))
    kept = [w for w in words if w not in STOPWORDS and len(w) > 1]
    rare = [w for w in kept if w not in common]
    return " OR ".join(f'"{w}"' for w in (rare or kept or words)[:MAX_QUERY_WORDS])


def filters(kinds, since, until, prefix: str) -> tuple[str, list]:
    clauses, params = [], []
    if kinds:
        clauses.append(f"{prefix}kind IN ({','.join('?' * len(kinds))})")
        params += list(kinds)
    if since is not None:
        clauses.append(f"{prefix}occurred_at >= ?")
        params.append(since)
    if until is not None:
        clauses.append(f"{prefix}occurred_at < ?")
        params.append(until)
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


STOPWORDS = frozenset("""
a an the and or but if so of to in on at by for with from as is are was were be been being
am do does did doing have has had having i me my we our you your he she it its they them
their this that these those what which who whom whose when where why how there here not no
yes um uh like just really very can could would should will shall may might must about
into over than then too also okay ok oh yeah well s t ll re ve d m don didn doesn isn wasn
""".split())

_CARDINALS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen "
              "fourteen fifteen sixteen seventeen eighteen nineteen twenty").split()
_ORDINALS = ("zeroth first second third fourth fifth sixth seventh eighth ninth tenth eleventh "
             "twelfth thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth "
             "nineteenth twentieth").split()
_TENS = "thirty forty fifty sixty seventy eighty ninety".split()
_TENTHS = "thirtieth fortieth fiftieth sixtieth seventieth eightieth ninetieth".split()
NUMBER_WORDS = {w: str(i) for words in (_CARDINALS, _ORDINALS) for i, w in enumerate(words)}
NUMBER_WORDS |= {w: str(30 + 10 * i) for words in (_TENS, _TENTHS) for i, w in enumerate(words)}
NUMBER_WORDS |= {"hundred": "100", "thousand": "1000", "million": "1000000",
                 "billion": "1000000000", "dozen": "12", "half": "0.5"}
