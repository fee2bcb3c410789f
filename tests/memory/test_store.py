"""The memory store on a real database file, on whatever Python runs the tests (the
machine's default cannot load SQLite extensions: the fallback module must take over)."""

import json
import sqlite3

import pytest

from arcus_desktop.memory import migrations, replica
from arcus_desktop.memory.db import Backend, Database, pick_backend
from arcus_desktop.memory.recall import recall
from arcus_desktop.memory.store import MemoryStore


def test_backend_loads_sqlite_vec_even_without_stdlib_extension_loading():
    backend = pick_backend()
    assert backend.vectors, backend.why_not
    if not hasattr(sqlite3.Connection, "enable_load_extension"):
        assert backend.name != "sqlite3"
    assert "sqlite-vec loaded" in backend.describe()


def test_migrations_from_an_empty_database_are_recorded_and_idempotent(tmp_path):
    db = Database(tmp_path / "m.db")
    assert migrations.apply(db.conn) == [name for name, _ in migrations.MIGRATIONS]
    assert migrations.apply(db.conn) == []
    tables = {r[0] for r in db.read("SELECT name FROM sqlite_master")}
    assert {"memories", "conversations", "memories_fts", "tombstones", "schema_migrations"} <= tables
    assert db.read("PRAGMA journal_mode")[0][0] == "wal"


class MigratedMeanwhile:
    """A connection that, just before it starts writing, lets another connection migrate the
    same file: what a second thread of the app opening a new file at once can do."""

    def __init__(self, conn, other):
        self._conn, self._other = conn, other

    def _other_goes_first(self):
        if self._other is not None:
            other, self._other = self._other, None
            migrations.apply(other)

    def execute(self, sql, *args):
        if sql.lstrip().upper().startswith("BEGIN"):
            self._other_goes_first()
        return self._conn.execute(sql, *args)

    def executescript(self, script):
        self._other_goes_first()
        return self._conn.executescript(script)

    def __getattr__(self, name):
        return getattr(self._conn, name)


def test_two_connections_migrating_a_new_file_at_once(tmp_path):
    # Audit: which migrations were done was read outside the transaction, so the second
    # of two first opens failed with "table conversations already exists".
    first, second = Database(tmp_path / "m.db"), Database(tmp_path / "m.db")
    assert migrations.apply(MigratedMeanwhile(first.conn, second.conn)) == []
    names = [name for name, _ in migrations.MIGRATIONS]
    assert [r[0] for r in first.read("SELECT name FROM schema_migrations")] == names
    assert migrations.apply(second.conn) == []
    first.close()
    second.close()


def test_add_get_list_and_the_three_kinds(store):
    cid = store.start_conversation("persona", "/rec/a.wav", started_at=1000.0)
    turn = store.add("episodic", "We moved  the launch to March 10.", speaker="user",
                     conversation_id=cid, audio_path="/rec/a.wav", audio_offset=3.2,
                     audio_duration=2.0, occurred_at=1003.2, source="conversation")
    fact = store.add("semantic", "The launch date is March 10", importance=0.8)
    pref = store.add("procedural", "I prefer short answers")
    assert turn.content == "We moved the launch to March 10."
    got = store.get(turn.id)
    assert (got.speaker, got.audio_offset, got.conversation_id) == ("user", 3.2, cid)
    assert got.embedding_model == store.embedder.name
    assert {m.id for m in store.list()} == {turn.id, fact.id, pref.id}
    assert [m.id for m in store.list(kinds=["procedural"])] == [pref.id]
    assert [m.id for m in store.list(since=900, until=1100)] == [turn.id]
    with pytest.raises(ValueError):
        store.add("dream", "nope")


def test_near_duplicate_facts_merge_instead_of_piling_up(store):
    a = store.add("semantic", "The Lisbon conference starts on October 4", importance=0.5)
    b = store.add("semantic", "the Lisbon conference starts on October 4th", importance=0.9)
    assert b.id == a.id and b.version == 2 and b.importance == 0.9
    assert b.content == "the Lisbon conference starts on October 4th"
    other = store.add("semantic", "Priya owns the database migration")
    assert other.id != a.id
    turn1 = store.add("episodic", "ok", speaker="user")
    turn2 = store.add("episodic", "ok", speaker="user")
    assert turn1.id != turn2.id  # what was said twice was said twice
    assert store.count() == 4


def test_near_duplicates_merge_on_words_when_there_are_no_vectors(tmp_path):
    store = MemoryStore(tmp_path / "kw.db", embedder=None)
    a = store.add("procedural", "I prefer short answers in the morning")
    b = store.add("procedural", "I prefer short answers in the morning please")
    assert a.id == b.id and store.count() == 1



@pytest.mark.parametrize("vectors", [True, False], ids=["vectors", "words only"])
@pytest.mark.parametrize("first, second", [
    ("Anna's birthday is on the third of March", "Emma's birthday is on the third of March"),
    ("The blue folder has the tax papers for 2023", "The blue folder has the tax papers for 2024"),
    ("My sister's flight lands at nine on Friday", "My sister's flight lands at ten on Friday"),
    ("The standup is with Priya on Mondays", "The standup is with Sam on Mondays"),
], ids=["name at the start", "year", "number word", "name mid-sentence"])
def test_facts_that_differ_in_a_name_or_a_number_are_never_merged(tmp_path, embedder, vectors,
                                                                   first, second):
    # Audit: "Emma's birthday ..." merged into "Anna's birthday ..." and Anna's was gone.
    store = MemoryStore(tmp_path / "m.db", embedder=embedder if vectors else None)
    a = store.add("semantic", first)
    b = store.add("semantic", second)
    assert a.id != b.id
    assert sorted(m.content for m in store.list()) == sorted([first, second])
    store.close()


@pytest.mark.parametrize("vectors", [True, False], ids=["vectors", "words only"])
def test_a_number_in_words_or_digits_is_the_same_number(tmp_path, embedder, vectors):
    store = MemoryStore(tmp_path / "m.db", embedder=embedder if vectors else None)
    a = store.add("semantic", "My sister's flight lands at nine on Friday")
    b = store.add("semantic", "my sister's flight lands at 9 on Friday")
    assert b.id == a.id and store.count() == 1
    store.close()


@pytest.mark.parametrize("vectors", [True, False], ids=["vectors", "words only"])
def test_a_merge_keeps_the_wording_it_replaces_in_history(tmp_path, embedder, vectors):
    store = MemoryStore(tmp_path / "m.db", embedder=embedder if vectors else None)
    a = store.add("semantic", "The wifi password at the lake house is tulip42")
    b = store.add("semantic", "The wifi password at the lake house is tulip42 now")
    assert b.id == a.id and b.content == "The wifi password at the lake house is tulip42 now"
    assert replica.history(store, a.id) == [
        (1, "The wifi password at the lake house is tulip42", "merged")]
    store.add("semantic", "The wifi password at the lake house is tulip42 now")
    assert len(replica.history(store, a.id)) == 1  # the same words again replace nothing
    store.close()

def recording(name):
    """A recording where the app keeps them: in its data folder."""
    from arcus_desktop.core import paths

    path = paths.data_dir() / "recordings" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF")
    return path


def test_delete_removes_row_words_vector_and_asked_for_recording(store, tmp_path):
    rec = recording("20260101-090000-0a0b0c.wav")
    m = store.add("episodic", "the zebra budget line", speaker="user", audio_path=str(rec))
    keep = store.add("episodic", "another zebra turn", speaker="user", audio_path=str(rec))
    assert store.keyword_search("zebra")
    assert store.delete(m.id, delete_recording=True)
    assert rec.exists()  # still used by the other memory
    assert store.get(m.id) is None
    assert [n for n, _ in store.keyword_search("budget")] == []
    assert m.num not in [n for n, _ in store.vector_search(store.embed_query("zebra budget"))]
    assert store.db.read("SELECT count(*) FROM tombstones WHERE id = ?", (m.id,))[0][0] == 1
    store.delete(keep.id, delete_recording=True)
    assert not rec.exists()
    assert store.delete("missing") is False


def test_forget_a_whole_conversation(store, tmp_path):
    rec = recording("20260101-093000-0d0e0f.wav")
    cid = store.start_conversation(recording_path=str(rec))
    for text in ("first thing", "second thing"):
        store.add("episodic", text, speaker="user", conversation_id=cid, audio_path=str(rec))
    other = store.add("semantic", "unrelated fact about hiring")
    assert store.forget_conversation(cid, delete_recording=True) == 2
    assert store.conversation(cid) is None and not rec.exists()
    assert [m.id for m in store.list()] == [other.id]
    assert store.db.read("SELECT count(*) FROM memory_vec")[0][0] == 1


def test_update_edits_text_kind_importance_and_pin(store):
    m = store.add("semantic", "The vendor is Acme")
    changed = store.update(m.id, content="The vendor is Globex", importance=0.9, pinned=True)
    assert (changed.content, changed.importance, changed.pinned, changed.version) == (
        "The vendor is Globex", 0.9, True, 2)
    assert [n for n, _ in store.keyword_search("globex")] == [m.num]
    assert store.keyword_search("acme") == []
    assert store.vector_search(store.embed_query("vendor Globex"), 1)[0][0] == m.num
    assert store.update(m.id, kind="procedural").kind == "procedural"
    assert store.vector_search(store.embed_query("vendor Globex"), 5, kinds=["semantic"]) == []


def test_keyword_search_survives_raw_user_text(store):
    store.add("semantic", "Dana's team uses Postgres 16")
    for raw in ('what\'s "dana" doing? AND OR NOT (*', "Dana's", "*", "   "):
        store.keyword_search(raw)  # no FTS5 syntax error
    assert store.keyword_search("what's Dana's database?")


def test_export_then_import_into_a_fresh_store(store, tmp_path, embedder):
    cid = store.start_conversation("p", title="Planning")
    store.add("episodic", "let us plan the sprint", speaker="user", conversation_id=cid)
    store.add("semantic", "Sprint 14 ends on Friday", importance=0.7)
    path = tmp_path / "export.json"
    assert store.export_json(path) == 2
    data = json.loads(path.read_text())
    assert data["format"] == "arcus-memories" and len(data["conversations"]) == 1
    fresh = MemoryStore(tmp_path / "fresh.db", embedder=embedder)
    assert fresh.import_json(path) == 2
    assert fresh.import_json(path) == 0  # nothing newer the second time
    assert fresh.conversation(cid).title == "Planning"
    assert fresh.pending_embeddings() == 0
    assert fresh.vector_search(fresh.embed_query("sprint ends Friday"), 1)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(Exception, match="cannot be imported"):
        fresh.import_json(bad)


def test_changing_the_embedding_model_re_embeds_everything(tmp_path, embedder):
    from arcus_desktop.memory.embedder import WordLlamaEmbedder

    store = MemoryStore(tmp_path / "e.db", embedder=embedder)
    for i in range(300):
        store.add("episodic", f"turn number {i} about topic {i % 7}", speaker="user")
    small = WordLlamaEmbedder(64)
    store.set_embedder(small)
    assert store.pending_embeddings() == 300
    assert store.keyword_search("topic")  # words still work meanwhile
    assert store.embed_pending(batch=256) == 256
    assert store.embed_pending(batch=256) == 44
    assert store.pending_embeddings() == 0
    models = store.db.read("SELECT DISTINCT embedding_model FROM memories")
    assert models == [(small.name,)]
    reopened = MemoryStore(tmp_path / "e.db", embedder=small)
    assert reopened.pending_embeddings() == 0  # same model: nothing to redo


def test_only_the_apps_own_recordings_are_ever_deleted(store, tmp_path):
    outside = tmp_path / "precious.txt"  # e.g. a path planted by an imported file
    outside.write_text("keep me")
    m = store.add("episodic", "a turn", speaker="user", audio_path=str(outside))
    assert store.delete(m.id, delete_recording=True)
    assert outside.read_text() == "keep me"


def test_an_imported_file_cannot_make_a_delete_remove_other_data_files(store, tmp_path, embedder):
    # Issue 15: an imported memory named a file in the data folder (here the memory
    # database itself) as its recording, and deleting the memory deleted that file.
    from arcus_desktop.core import paths

    database = paths.data_dir() / "memory.db"
    other = recording("notes.txt")
    other.write_text("keep me")
    own = recording("20260101-101500-a1b2c3.wav")
    source = MemoryStore(tmp_path / "elsewhere.db", embedder=embedder)
    cid = source.start_conversation("p", recording_path=str(database))
    source.add("episodic", "first turn", speaker="user", conversation_id=cid,
               audio_path=str(other))
    source.add("episodic", "second turn", speaker="user", conversation_id=cid,
               audio_path=str(database))
    mine = source.add("episodic", "a real turn", speaker="user", audio_path=str(own))
    exported = tmp_path / "planted.json"
    source.export_json(exported)
    source.close()
    assert store.import_json(exported) == 3
    assert {m.audio_path for m in store.conversation_memories(cid)} == {None}  # not ours
    assert store.conversation(cid).recording_path is None
    assert store.forget_conversation(cid, delete_recording=True) == 2
    assert database.exists() and other.read_text() == "keep me"
    assert store.count() == 1  # the store is still there, and still works
    assert store.conversation(cid) is None
    assert store.get(mine.id).audio_path == str(own)  # the app's own recording is kept
    store.delete(mine.id, delete_recording=True)
    assert not own.exists()


@pytest.mark.parametrize("content", ['[]', '{"format": "arcus-memories"}',
                                     '{"format": "arcus-memories", "conversations": [], '
                                     '"memories": [{"id": "x", "kind": "semantic", "content": null}]}'])
def test_malformed_imports_are_refused_with_a_clear_error(store, tmp_path, content):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    with pytest.raises(Exception, match="cannot be imported") as e:
        store.import_json(bad)
    assert "exported by Arcus Desktop" in e.value.hint
    assert store.count() == 0


def test_keyword_search_knows_who_said_it_and_the_turn_before(store):
    cid = store.start_conversation(started_at=1000.0)
    store.add("episodic", "how long did you train for the race?", speaker="Nora",
              conversation_id=cid, occurred_at=1001.0)
    answer = store.add("episodic", "about three months, up at six most mornings", speaker="Felix",
                       conversation_id=cid, occurred_at=1002.0)
    other = store.add("episodic", "three months of mornings at the gym", speaker="Maya",
                      occurred_at=1003.0)
    found = [n for n, _ in store.keyword_search("how long did Felix train?")]
    assert found[0] == answer.num and other.num not in found[:1]
    store.update(answer.id, content="roughly three months")  # re-indexed with its context
    assert [n for n, _ in store.keyword_search("Felix race")][0] == answer.num
    store.delete(answer.id)
    assert answer.num not in [n for n, _ in store.keyword_search("Felix race")]


def test_an_older_store_gets_the_new_word_index(tmp_path, embedder):
    from arcus_desktop.memory import migrations
    from arcus_desktop.memory.db import Database

    db = Database(tmp_path / "old.db")
    shipped, migrations.MIGRATIONS = migrations.MIGRATIONS, migrations.MIGRATIONS[:2]
    try:
        migrations.apply(db.conn)
        db.conn.execute("INSERT INTO conversations VALUES ('c', 1.0, NULL, '', '', NULL)")
        for num, (who, text) in enumerate([("Nora", "did you run the race?"),
                                           ("Felix", "yes, in under two hours")], 1):
            db.conn.execute("INSERT INTO memories (id, kind, content, speaker, conversation_id, "
                            "source, occurred_at, created_at, updated_at) VALUES "
                            "(?, 'episodic', ?, ?, 'c', 'conversation', ?, 0, 0)",
                            (f"m{num}", text, who, float(num)))
    finally:
        migrations.MIGRATIONS = shipped
    db.close()
    store = MemoryStore(tmp_path / "old.db", embedder=embedder)
    assert [n for n, _ in store.keyword_search("Felix race")] == [2, 1]
    store.close()


def test_speakers_named_in_a_question(store, embedder):
    cid = store.start_conversation(started_at=1000.0)
    for speaker in ("Maya", "Leon", "user", "assistant", "Ana Lucia"):
        store.add("episodic", f"hello from {speaker}", speaker=speaker, conversation_id=cid)
    assert store.speakers_named("What did Maya's dog eat?") == {"Maya"}
    assert store.speakers_named("did leon and MAYA meet?") == {"Leon", "Maya"}
    assert store.speakers_named("Where does Lucia live?") == {"Ana Lucia"}
    assert store.speakers_named("what did we decide about user research?") == set()
    other = MemoryStore(store.path, embedder=embedder)  # another connection (sync, the CLI)
    other.add("episodic", "hi", speaker="Priya", conversation_id=cid)
    assert store.speakers_named("Is Priya back?") == {"Priya"}
    other.close()
    for m in store.conversation_memories(cid):
        if m.speaker == "Leon":
            store.delete(m.id)
    assert store.speakers_named("did leon call?") == set()


def _without_vectors(path, embedder) -> MemoryStore:
    """The store on the fallback path: a Python whose sqlite3 cannot load sqlite-vec and
    that has no sqlean, so the standard sqlite3 without vectors."""
    backend = Backend(sqlite3, "sqlite3", False, "no sqlite-vec")
    return MemoryStore(path, embedder=embedder, database=Database(path, backend=backend))


def test_deletes_without_vectors_work_and_leave_no_vector_to_recall(tmp_path, embedder):
    # Audit: on the fallback path every delete ran DELETE FROM memory_vec, which fails
    # there ("no such module: vec0"): deleting, forgetting, importing and sync all failed.
    path = tmp_path / "memory.db"
    store = MemoryStore(path, embedder=embedder)
    cid = store.start_conversation("p")
    store.add("semantic", "My sister Anna lives in Porto", conversation_id=cid)  # forgotten below
    wifi = store.add("semantic", "The office wifi password is tulip42")
    boat = store.add("semantic", "The sailing boat is moored at pier nine")
    dentist = store.add("semantic", "The dentist appointment is on Tuesday")
    exported = tmp_path / "export.json"
    store.export_json(exported)
    store.close()

    old = _without_vectors(path, embedder)
    assert not old.vectors
    assert old.delete(wifi.id)
    assert old.forget_conversation(cid) == 1
    pulled = replica.apply(old, [replica.Change(boat.id, boat.version + 1, deleted=True)])
    assert pulled.deleted == 1
    data = json.loads(exported.read_text())
    newer = next(m for m in data["memories"] if m["id"] == dentist.id)
    newer.update(content="The dentist appointment moved to Wednesday",
                 updated_at=newer["updated_at"] + 10)
    exported.write_text(json.dumps({**data, "conversations": [], "memories": [newer]}))
    assert old.import_json(exported) == 1
    lunch = old.add("semantic", "Lunch with Omar is on Friday")  # may reuse a deleted row's key
    old.close()

    store = MemoryStore(path, embedder=embedder)  # vectors again
    assert {m.id for m in store.list()} == {dentist.id, lunch.id}
    assert store.db.read("SELECT count(*) FROM memory_vec")[0][0] == 0  # none left behind
    for gone in ("office wifi password", "sister Anna in Porto", "sailing boat at the pier"):
        assert recall(store, gone, method="vector") == []
    while store.embed_pending():
        pass
    assert recall(store, "lunch with Omar", k=1, method="vector")[0].memory.id == lunch.id
    assert recall(store, "dentist on Wednesday", k=1, method="vector")[0].memory.id == dentist.id
    assert store.db.read("SELECT count(*) FROM memory_vec")[0][0] == 2
    store.close()


def test_an_edit_without_vectors_is_embedded_again(tmp_path, embedder):
    path = tmp_path / "memory.db"
    store = MemoryStore(path, embedder=embedder)
    m = store.add("semantic", "The parking spot is B17")
    store.close()
    old = _without_vectors(path, embedder)
    old.update(m.id, content="The team offsite is in Lisbon")
    old.close()
    store = MemoryStore(path, embedder=embedder)
    assert recall(store, "where do I park the car", method="vector") == []  # not the old text
    assert store.pending_embeddings() == 1
    store.embed_pending()
    assert recall(store, "offsite in Lisbon", k=1, method="vector")[0].memory.id == m.id
    store.close()
